"""Every relative link of the README and docs/ leads somewhere: the file exists, and so does the
heading its ``#anchor`` names."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from conftest import ROOT
from docs_helpers import PAGES, anchors, links, page_name


def broken_links(page) -> list[str]:
    """The page's relative links whose file or anchor is missing."""
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / unquote(path)).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading makes #{anchor}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_missing_file_and_a_missing_anchor_are_caught(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading: twice\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Same\n\n## Same\n\nSee [here](#same-1), [there](other.md#a-code-heading-twice),\n"
        "[gone](gone.md), [no anchor](other.md#nothing), [own](#missing) and `[code](skipped.md)`.\n"
        "```bash\necho [block](skipped.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#nothing: no heading makes #nothing",
        "#missing: no heading makes #missing",
    ]


def test_the_readme_links_every_reference_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages <= {target.partition("#")[0] for target in links(readme)}
