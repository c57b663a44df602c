"""The history epoch decisions (shared/epochs.py), without Redis or MongoDB."""

import pytest

from shared.epochs import Epoch, Verdict, judge, new_start, resumable, sortable, unsortable


def epoch(last="100-0", start="50-0", ready=True):
    return Epoch("e1", start, last, ready)


def test_redis_without_an_epoch_lost_its_history():
    assert judge(None, "0-0") is Verdict.NEW_EPOCH


def test_an_epoch_behind_what_was_published_was_rolled_back():
    assert judge(epoch(last="100-0"), published="100-1") is Verdict.NEW_EPOCH


def test_an_epoch_holding_everything_published_is_kept():
    assert judge(epoch(last="100-1"), published="100-1") is Verdict.KEEP
    assert judge(epoch(last="200-0"), published="100-1") is Verdict.KEEP


def test_an_epoch_not_ready_is_rebuilt():
    assert judge(epoch(ready=False), published="0-0") is Verdict.REBUILD


def test_ids_compare_as_pairs_not_as_text():
    assert judge(epoch(last="99-0"), published="100-0") is Verdict.NEW_EPOCH
    assert judge(epoch(last="100-10"), published="100-9") is Verdict.KEEP


def test_a_new_epoch_starts_after_every_id_the_lost_history_handed_out():
    assert new_start("500-3", "400-0", now_ms=300) == "500-3"
    assert new_start("0-0", "400-0", now_ms=300) == "400-0"
    # An event appended but not yet recorded had an id from before now.
    assert new_start("0-0", "400-0", now_ms=900) == "900-0"


def test_a_fresh_deployment_starts_at_zero():
    assert new_start("0-0", "0-0", now_ms=900) == "0-0"


@pytest.mark.parametrize(
    ("since", "ok"), [("49-9", False), ("50-0", True), ("70-0", True), ("x", False)]
)
def test_a_since_before_the_epoch_start_is_from_a_lost_history(since, ok):
    assert resumable(since, epoch(start="50-0")) is ok


def test_sortable_ids_sort_like_ids_and_read_back():
    ids = ["9-0", "10-0", "10-2", "100-1"]
    assert sorted(map(sortable, ids)) == list(map(sortable, ids))
    assert [unsortable(sortable(i)) for i in ids] == ids
    assert unsortable(None) == "0-0"


def test_the_redis_hash_reads_as_an_epoch():
    assert Epoch.from_fields({}) is None
    assert Epoch.from_fields({"id": "e", "start": "5-0", "last": "7-0", "ready": "1"}) == Epoch(
        "e", "5-0", "7-0", True
    )
