"""The README and docs/ as the tests read them: their pages, code blocks, commands, links and anchors."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A fenced block, indented or not (a block inside a list item is indented): its language and text.
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
SHELL = ("bash", "sh", "shell")


def page_name(page: Path) -> str:
    """``README.md`` or ``docs/NAME.md``."""
    return page.relative_to(ROOT).as_posix()


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of a page: (language, text without the common indent)."""
    found = []
    for indent, lang, body in FENCE.findall(text):
        lines = [line[len(indent) :] if line.startswith(indent) else line for line in body.splitlines()]
        found.append((lang, "\n".join(lines) + "\n"))
    return found


def commands(text: str) -> list[list[str]]:
    """The shell commands of a page, in order, as their words: each line of a bash/sh block
    (continuation lines joined, comments dropped) and each ``$ `` line of a plain block, cut at
    ``&&`` into one command per program."""
    found = []
    for lang, body in blocks(text):
        lines = body.replace("\\\n", " ").splitlines()
        if lang in SHELL:
            found += lines
        elif lang in ("", "console"):
            found += [line[2:] for line in lines if line.startswith("$ ")]
            if not any(line.startswith("$ ") for line in lines) and lines and lines[0].startswith("python "):
                found += lines  # a block of commands shown without prompts
    return [part for line in found for part in split_command(line)]


def split_command(line: str) -> list[list[str]]:
    """A command line without its comment: the words of each ``&&``-joined command."""
    parts: list[list[str]] = [[]]
    for word in shlex.split(line, comments=True):
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return [part for part in parts if part]


def without_code(text: str) -> str:
    """The page with its fenced blocks and inline code blanked out (links inside them are text)."""
    text = FENCE.sub(lambda found: "\n" * found.group(0).count("\n"), text)
    return re.sub(r"`[^`\n]*`", "``", text)


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)\)")


def links(text: str) -> list[str]:
    """The targets of the page's markdown links and images, outside code."""
    return LINK.findall(without_code(text))


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes for a page's headings: lower case, punctuation dropped (hyphens and
    underscores kept), spaces as hyphens, a repeated one numbered ``-1``, ``-2``..."""
    seen: dict[str, int] = {}
    made = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", FENCE.sub("", text), re.M):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        made.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return made
