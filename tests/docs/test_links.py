"""Every relative link and image in README.md and docs/*.md resolves: files and #anchors."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

PARSER = MarkdownIt("commonmark").enable("table")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of ``page``, numbered as GitHub numbers repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    tokens = PARSER.parse(page.read_text())
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open":
            continue
        text = "".join(
            child.content
            for child in inline.children or []
            if child.type in ("text", "code_inline")
        )
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The targets of every link and image of ``page``."""
    targets = []
    for token in PARSER.parse(page.read_text()):
        for child in token.children or []:
            if child.type == "link_open":
                targets.append(child.attrGet("href"))
            elif child.type == "image":
                targets.append(child.attrGet("src"))
    return targets


def broken(page: Path, repo: Path = REPO) -> list[str]:
    """What is wrong with each relative link of ``page`` (nothing: an empty list)."""
    problems = []
    for target in links(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # absolute URLs are not checked here (no network in the tests)
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        where = path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)
        if not path.exists():
            problems.append(f"{target}: no {where}")
            continue
        if parts.fragment and path.suffix == ".md" and parts.fragment not in anchors(path):
            problems.append(f"{target}: no heading #{parts.fragment} in {where}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    assert broken(page) == []


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n## Two words (here)\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#two-words-here) [file](c.md) [anchor](b.md#nowhere) [self](#title) "
        "[web](https://example.com/x.md) ![img](img/x.png)\n"
    )

    problems = broken(page, tmp_path.resolve())

    assert problems == [
        "c.md: no c.md",
        "b.md#nowhere: no heading #nowhere in b.md",
        "#title: no heading #title in a.md",
        "img/x.png: no img/x.png",
    ]


def test_repeated_headings_are_numbered_like_github(tmp_path):
    page = tmp_path / "a.md"
    page.write_text("# Setup\n\n## Setup\n\n## Endpoints (base `/api/v1`, below)\n")

    assert anchors(page) == {"setup", "setup-1", "endpoints-base-apiv1-below"}
