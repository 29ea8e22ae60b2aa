"""The README's commands and examples are the ones that really run."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
OUTPUT_DOC = (ROOT / "docs" / "output.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)


def test_readme_starts_with_exactly_two_commands():
    bash = [body.strip() for lang, body in BLOCKS[:2] if lang == "bash"]
    assert len(bash) == 2 and all("\n" not in cmd for cmd in bash)
    install_run, install_test = bash
    assert install_run.startswith("pip install . && mosaicit augment examples/")
    assert "pytest" in install_test
    assert install_test in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert README.index("```bash") < README.index("\n## ")


def test_python_examples_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout's mosaicit
    for lang, body in BLOCKS:
        if lang == "python":
            done = subprocess.run(
                [sys.executable, "-c", body], cwd=tmp_path, capture_output=True, text=True, env=env
            )
            assert done.returncode == 0, done.stderr


def load_readme_mosaic():
    """examples/readme_mosaic.py, the script that makes the README's mosaic."""
    spec = importlib.util.spec_from_file_location("readme_mosaic", ROOT / "examples" / "readme_mosaic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_mosaic_shown_is_what_mosaicit_makes_of_the_sample(tmp_path):
    made = load_readme_mosaic()
    lines, summary = made.run_sample(tmp_path)
    shown = made.current_block(README)
    assert shown == made.block(lines, summary), "stale: run `python examples/readme_mosaic.py --write`"
    _, row, plan = made.pick(lines)
    assert f"```text\n{row['instruction']}\n```" in shown and f"```text\n{row['output']}\n```" in shown
    assert plan["strategy"] == "permute" and plan["tags"] and row["count"] == 3
    assert plan["tokens"] <= summary["config"]["max-length"]


def test_the_output_docs_row_is_the_same_row_as_written(tmp_path):
    made = load_readme_mosaic()
    lines, summary = made.run_sample(tmp_path)
    shown = made.current_block(OUTPUT_DOC, made.ROW_BEGIN, made.ROW_END)
    assert shown == made.row_block(lines), "stale: run `python examples/readme_mosaic.py --write`"
    number, row, plan = made.pick(lines)
    written = re.findall(r"```json\n(.*?)\n```", shown, re.S)[0]
    for name in ("instruction", "output"):  # the real texts put back: the line as written
        written = written.replace(
            f'"{name}":"..."', f'"{name}":' + json.dumps(row[name], ensure_ascii=False), 1
        )
    assert written == lines[number]
    assert f'"tokens": {plan["tokens"]}' in shown and f"Row {number + 1} of" in made.current_block(README)


def test_a_changed_mosaic_is_stale(tmp_path):
    made = load_readme_mosaic()
    lines, summary = made.run_sample(tmp_path)
    number, row, plan = made.pick(lines)
    lines[number] = json.dumps({**row, "output": row["output"] + "\nOne line more."}, ensure_ascii=False)
    assert made.block(lines, summary) != made.current_block(README)
    plan["tokens"] += 1
    lines[number] = json.dumps({**row, "mosaic": json.dumps(plan, separators=(",", ":"))}, ensure_ascii=False)
    assert made.row_block(lines) != made.current_block(OUTPUT_DOC, made.ROW_BEGIN, made.ROW_END)


def test_the_readme_is_a_landing_page():
    assert len(README.splitlines()) < 300
    assert "## Contents" in README and "docs/evidence.md" in README
