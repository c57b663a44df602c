"""Where the bench finds the Node peer: an option, an environment variable, or a default."""

from __future__ import annotations

import pytest

from bench import procs


def _peer(path):
    path.mkdir(parents=True)
    (path / "gateway_node.js").write_text("// the peer\n")
    return path


def test_the_option_wins_over_the_environment(tmp_path):
    option, env = _peer(tmp_path / "option"), _peer(tmp_path / "env")

    found = procs.peer_source(option, {procs.PEER_DIR_ENV: str(env)})

    assert found == option.resolve()


def test_the_environment_variable_is_used_without_the_option(tmp_path):
    env = _peer(tmp_path / "env")

    assert procs.peer_source(None, {procs.PEER_DIR_ENV: str(env)}) == env.resolve()


def test_the_default_is_the_team_folder_beside_the_checkout():
    assert procs.ROOT.parent / "shared" / "peer" == procs.DEFAULT_PEER_DIR


def test_a_missing_peer_says_what_to_set(tmp_path):
    with pytest.raises(procs.PeerNotFound) as caught:
        procs.peer_source(None, {procs.PEER_DIR_ENV: str(tmp_path / "nowhere")})

    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message
    assert procs.PEER_DIR_ENV in message and "--peer-dir" in message and "--no-peer" in message
