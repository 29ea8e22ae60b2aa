"""The README's commands and examples are the ones that really run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
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
