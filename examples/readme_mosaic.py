"""The README's mosaic: run the README's first command on the bundled sample and show one row.

    python examples/readme_mosaic.py           # print the README's block
    python examples/readme_mosaic.py --write   # rewrite the block in README.md

The row shown is the shortest mosaic of three records that reorders its answers and puts them
between tags. With the default ``--template none`` a trainer sees exactly two texts: the row's
``instruction`` as the prompt and its ``output`` as the answer. tests/test_readme.py fails when
the README's block is not what this script makes.
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
SAMPLE = "examples/sample_alpaca.jsonl"
OUTPUT = "out/sample_mosaic.jsonl"
BEGIN = "<!-- mosaic: made by `python examples/readme_mosaic.py --write`; tests/test_readme.py checks it -->"
END = "<!-- end of mosaic -->"


def run_sample(folder: Path) -> tuple[list[dict], dict]:
    """The rows and summary of ``mosaicit augment examples/sample_alpaca.jsonl`` (this checkout's)."""
    output = folder / "sample_mosaic.jsonl"
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    command = [sys.executable, "-m", "mosaicit", "augment", SAMPLE, "-o", str(output), "-q"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    summary = json.loads(output.with_name(output.name + ".summary.json").read_text(encoding="utf-8"))
    return rows, summary


def pick(rows: list[dict]) -> tuple[int, dict, dict]:
    """The shortest three-record mosaic that reorders its answers between tags: (number, row, plan)."""
    chosen = []
    for number, row in enumerate(rows):
        plan = json.loads(row["mosaic"])
        if row["count"] == 3 and plan["strategy"] == "permute" and plan["tags"]:
            chosen.append((len(row["instruction"]) + len(row["output"]), number, row, plan))
    _, number, row, plan = min(chosen, key=lambda found: found[:2])
    return number, row, plan


def fenced(text: str) -> str:
    """A text block that shows ``text`` exactly."""
    assert "```" not in text, "the text holds a code fence"
    return f"```text\n{text}\n```"


def block(rows: list[dict], summary: dict) -> str:
    """The README's block: the row as a trainer sees it, and what its provenance says."""
    number, row, plan = pick(rows)
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


def current_block(readme: str) -> str:
    """The block as the README has it now."""
    start = readme.index(BEGIN)
    return readme[start : readme.index(END, start) + len(END)]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        made = block(*run_sample(Path(folder)))
    if sys.argv[1:] == ["--write"]:
        readme = README.read_text(encoding="utf-8")
        README.write_text(readme.replace(current_block(readme), made), encoding="utf-8")
    else:
        print(made)


if __name__ == "__main__":
    main()
