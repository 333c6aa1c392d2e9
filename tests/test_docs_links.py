"""The documentation holds together: every relative link resolves, anchors included.

Checks README.md, docs/*.md and weights/README.md as GitHub renders them: a link is a file or
folder inside the repository, and ``#anchor`` names a heading of the target Markdown file by
GitHub's slug (lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for repeats).
Markdown is parsed with markdown-it (which rich already depends on), so links and headings inside
code blocks and code spans are not mistaken for real ones. Reads only the repository: no
../shared needed.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from itertools import pairwise
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "weights" / "README.md"]
# "at most about 12 KB": what a new user needs first; the rest belongs in docs/.
README_MAX_BYTES = 12_800

_MD = MarkdownIt("commonmark").enable("table")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading's text (as github-slugger computes it)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _tokens(path: Path) -> list[Token]:
    return _MD.parse(path.read_text(encoding="utf-8"))


def _plain_text(inline: Token) -> str:
    return "".join(t.content for t in inline.children or () if t.type in ("text", "code_inline"))


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    tokens = _tokens(path)
    seen: Counter[str] = Counter()
    found = set()
    for heading, inline in pairwise(tokens):
        if heading.type != "heading_open":
            continue
        slug = github_slug(_plain_text(inline))
        found.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return frozenset(found)


def links(path: Path) -> list[str]:
    """The targets of every link and image in a Markdown file, in order."""
    targets = []
    for token in _tokens(path):
        for child in token.children or ():
            if child.type == "link_open":
                targets.append(str(child.attrs["href"]))
            elif child.type == "image":
                targets.append(str(child.attrs["src"]))
    return targets


def broken_links(path: Path) -> list[str]:
    """``target: why`` for every relative link of ``path`` that does not resolve."""
    problems = []
    for target in links(path):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # an absolute URL: not ours to check offline
        dest = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not dest.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file")
        elif parts.fragment:
            if dest.suffix != ".md":
                problems.append(f"{target}: an anchor into a file that is not Markdown")
            elif unquote(parts.fragment) not in anchors(dest):
                problems.append(f"{target}: no heading with that anchor in {dest.name}")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert path.is_file()
    problems = broken_links(path)
    assert not problems, "\n".join(problems)


def test_the_docs_are_linked_from_the_readme_and_the_index():
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages, "docs/ holds no pages"
    readme_targets = {Path(urlsplit(t).path).name for t in links(ROOT / "README.md")}
    index_targets = {Path(urlsplit(t).path).name for t in links(ROOT / "docs" / "README.md")}
    assert "README.md" in readme_targets  # docs/README.md, the index
    assert pages <= readme_targets
    assert pages <= index_targets


def test_readme_stays_short():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move the detail into docs/"


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("What happens when...", "what-happens-when"),
        ("...the input is odd", "the-input-is-odd"),
        ("cftrack track INPUT --box X,Y,W,H", "cftrack-track-input---box-xywh"),
        ("Ablations: what each part buys", "ablations-what-each-part-buys"),
        ("conv5_3 and fHOG", "conv5_3-and-fhog"),
    ],
)
def test_github_slug(heading, slug):
    assert github_slug(heading) == slug


def test_a_broken_link_or_anchor_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other\n\n## Part one\n\n## Part one\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#part-one-1) [self](#page) [web](https://example.org/x)\n"
        "[gone](missing.md) [bad anchor](other.md#part-two) [out](../elsewhere.md)\n\n"
        "```\n[in a code block](missing-too.md)\n```\n\n`[in a span](missing-three.md)`\n"
    )
    (tmp_path.parent / "elsewhere.md").write_text("# Elsewhere\n")
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#part-two: no heading with that anchor in other.md",
        "../elsewhere.md: outside the repository",
    ]
