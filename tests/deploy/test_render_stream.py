"""`make k8s-render` prints one valid multi-document YAML stream (`kubectl apply -f -`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from deploy import render
from tests.deploy.conftest import REPO


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_k8s_render_is_one_stream_of_every_overlays_objects(rendered):
    result = subprocess.run(
        ["make", "--silent", "--no-print-directory", "k8s-render"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]

    # Without a separator between overlays, the dev overlay's last object and the prod
    # overlay's first merge into one mapping (PyYAML keeps the later keys): one object fewer.
    assert len(documents) == len(rendered["dev"]) + len(rendered["prod"])
    assert all({"apiVersion", "kind", "metadata"} <= doc.keys() for doc in documents)
    assert render.validation_errors(documents) == []


def test_each_overlay_after_the_first_starts_a_new_document():
    first = render.stream_part("overlays/dev", "kind: Ingress", several=True)
    second = render.stream_part("overlays/prod", "kind: Namespace\n", several=True)

    documents = list(yaml.safe_load_all(first + second))

    assert [d["kind"] for d in documents] == ["Ingress", "Namespace"]
