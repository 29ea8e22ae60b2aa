"""The README's mosaic: run the README's first command on the bundled sample and show one row.

    python examples/readme_mosaic.py           # print the README's block and docs/output.md's
    python examples/readme_mosaic.py --write   # rewrite both blocks in README.md and docs/output.md

The row shown is the shortest mosaic of three records that reorders its answers and puts them
between tags. With the default ``--template none`` a trainer sees exactly two texts: the row's
``instruction`` as the prompt and its ``output`` as the answer. docs/output.md shows the same row
as it is written (its two texts cut) and its provenance decoded. tests/test_readme.py fails when
either block is not what this script makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OUTPUT_DOC = ROOT / "docs" / "output.md"
SAMPLE = "examples/sample_alpaca.jsonl"
OUTPUT = "out/sample_mosaic.jsonl"
BEGIN = "<!-- mosaic: made by `python examples/readme_mosaic.py --write`; tests/test_readme.py checks it -->"
END = "<!-- end of mosaic -->"
ROW_BEGIN = "<!-- row: made by `python examples/readme_mosaic.py --write`; tests/test_readme.py checks it -->"
ROW_END = "<!-- end of row -->"


def run_sample(folder: Path) -> tuple[list[str], dict]:
    """The output lines and summary of ``mosaicit augment examples/sample_alpaca.jsonl`` (this checkout's)."""
    output = folder / "sample_mosaic.jsonl"
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    command = [sys.executable, "-m", "mosaicit", "augment", SAMPLE, "-o", str(output), "-q"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    lines = output.read_text(encoding="utf-8").splitlines()
    summary = json.loads(output.with_name(output.name + ".summary.json").read_text(encoding="utf-8"))
    return lines, summary


def pick(lines: list[str]) -> tuple[int, dict, dict]:
    """The shortest three-record mosaic that reorders its answers between tags: (number, row, plan)."""
    chosen = []
    for number, line in enumerate(lines):
        row = json.loads(line)
        plan = json.loads(row["mosaic"])
        if row["count"] == 3 and plan["strategy"] == "permute" and plan["tags"]:
            chosen.append((len(row["instruction"]) + len(row["output"]), number, row, plan))
    _, number, row, plan = min(chosen, key=lambda found: found[:2])
    return number, row, plan


def fenced(text: str) -> str:
    """A text block that shows ``text`` exactly."""
    assert "```" not in text, "the text holds a code fence"
    return f"```text\n{text}\n```"


def block(lines: list[str], summary: dict) -> str:
    """The README's block: the row as a trainer sees it, and what its provenance says."""
    number, row, plan = pick(lines)
    ids = ", ".join(f"`{one}`" for one in plan["ids"])
    about = (
        f"Its provenance (the `mosaic` column) names the records it holds ({ids}: input rows "
        f"{', '.join(map(str, plan['sources']))}), the strategy (`{plan['strategy']}`, rule "
        f"`{plan['rule']}`), the answer order ({', '.join(map(str, plan['answer_order']))}), the "
        f"labels, the tags, both meta-instructions and the count: {plan['tokens']} tokens by the "
        f"bundled tokenizer, under the budget of {summary['config']['max-length']:,}."
    )
    return "\n".join(
        [
            BEGIN,
            f"Row {number + 1} of `{OUTPUT}`, the first command's output. The prompt (its `instruction`):",
            "",
            fenced(row["instruction"]),
            "",
            "The answer (its `output`: what the model learns to write):",
            "",
            fenced(row["output"]),
            "",
            textwrap.fill(about, width=96, break_on_hyphens=False, break_long_words=False),
            END,
        ]
    )


def row_block(lines: list[str]) -> str:
    """docs/output.md's block: the same row as written, its two texts cut, and its provenance decoded."""
    number, row, plan = pick(lines)
    line = lines[number]
    for name in ("instruction", "output"):
        text = json.dumps(row[name], ensure_ascii=False)
        assert line.count(text) == 1, f"the row's {name} is not written once as such"
        line = line.replace(text, '"..."')
    decoded = ",\n ".join(
        f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in plan.items()
    )
    return "\n".join(
        [
            ROW_BEGIN,
            f"Row {number + 1} of `{OUTPUT}`, made by the README's first command (the",
            "[README](../README.md#a-mosaic-as-a-trainer-sees-it) shows its `instruction` and `output`,",
            'cut to `"..."` here):',
            "",
            f"```json\n{line}\n```",
            "",
            'Decoded (`json.loads(row["mosaic"])`), its provenance reads:',
            "",
            f"```json\n{{{decoded}}}\n```",
            ROW_END,
        ]
    )


def current_block(text: str, begin: str = BEGIN, end: str = END) -> str:
    """The block between ``begin`` and ``end`` as ``text`` (the README's, by default) has it now."""
    start = text.index(begin)
    return text[start : text.index(end, start) + len(end)]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines, summary = run_sample(Path(folder))
    made = {
        README: (block(lines, summary), BEGIN, END),
        OUTPUT_DOC: (row_block(lines), ROW_BEGIN, ROW_END),
    }
    for path, (text, begin, end) in made.items():
        if sys.argv[1:] == ["--write"]:
            doc = path.read_text(encoding="utf-8")
            path.write_text(doc.replace(current_block(doc, begin, end), text), encoding="utf-8")
        else:
            print(text)


if __name__ == "__main__":
    main()
