"""eval generate: model folder checks, clear errors without the optional libraries, and SmolLM2 end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALPACA_EVAL, ROOT
from eval_helpers import built
from mosaicit.cli import main
from mosaicit.errors import MosaicitError
from mosaicit.eval.generate import find_gguf, generate_answers, prompt_texts

FETCH = ROOT.parent / "shared" / "scripts" / "fetch_smollm2.sh"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def invoke(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)], catch_exceptions=False)


def test_find_gguf(tmp_path):
    with pytest.raises(MosaicitError, match="not a model folder"):
        find_gguf(tmp_path, None)
    (tmp_path / "a.gguf").write_bytes(b"")
    assert find_gguf(tmp_path, None) == "a.gguf"
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(MosaicitError, match="several GGUF files"):
        find_gguf(tmp_path, None)
    assert find_gguf(tmp_path, "b.gguf") == "b.gguf"
    with pytest.raises(MosaicitError, match="no such GGUF file"):
        find_gguf(tmp_path, "c.gguf")
    (tmp_path / "config.json").write_text("{}")
    assert find_gguf(tmp_path, None) is None  # a regular transformers folder


def test_missing_libraries_give_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MosaicitError, match=r"needs transformers and torch .*pip install 'mosaicit\[eval\]'"):
        generate_answers(list(built())[:1], tmp_path)


def test_bad_arguments_are_one_line_errors(tmp_path):
    evals = tmp_path / "evals.jsonl"
    evals.write_text(json.dumps(built()[0].to_dict()) + "\n", encoding="utf-8")
    for args, message in (
        (["--model", tmp_path / "none", "-o", tmp_path / "a.jsonl"], "no such model folder"),
        (["--model", tmp_path, "-o", tmp_path / "a.jsonl", "--batch-size", 0], "must be at least 1"),
    ):
        result = invoke("generate", evals, *args, "-q")
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("mosaicit: error: ") and result.stderr.count("\n") == 1
        if "transformers" not in result.stderr:  # without the optional libraries, that is the message
            assert message in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


class FakeTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        return "<chat>" + messages[-1]["content"]


def test_prompt_texts_use_the_chat_template_or_the_bare_prompt():
    items = list(built())[:2]
    assert prompt_texts(FakeTokenizer(), items) == ["<chat>" + i.prompt for i in items]
    assert prompt_texts(FakeTokenizer(), items, chat_template=False) == [i.prompt for i in items]
    bare = FakeTokenizer()
    bare.chat_template = None
    with pytest.raises(MosaicitError, match="no chat template"):
        prompt_texts(bare, items)


@pytest.fixture(scope="session")
def smollm2(request, tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct (GGUF), fetched once into the pytest cache (or a temporary folder)."""
    pytest.importorskip("torch", reason="eval generate needs torch: pip install 'mosaicit[eval]'")
    pytest.importorskip(
        "transformers", reason="eval generate needs transformers: pip install 'mosaicit[eval]'"
    )
    pytest.importorskip("gguf", reason="loading a GGUF model needs gguf: pip install 'mosaicit[eval]'")
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("smollm2")) if cache else tmp_path_factory.mktemp("smollm2")
    if not (folder / GGUF).is_file():
        done = subprocess.run(["bash", str(FETCH), str(folder)], capture_output=True, text=True)
        assert done.returncode == 0, f"fetching SmolLM2 failed: {done.stderr[-500:]}"
    return folder


@pytest.mark.heavy
def test_smollm2_end_to_end(tmp_path, smollm2):
    """Build five small prompts, answer the first four with SmolLM2 on the CPU, and score the answers."""
    evals, answers, report = tmp_path / "evals.jsonl", tmp_path / "answers.jsonl", tmp_path / "report.json"
    built_ok = invoke(
        "build", ALPACA_EVAL, "-o", evals, "--size", 5, "--min-records", 2, "--max-records", 3,
        "--max-length", 400, "--seed", 1, "-q",
    )  # fmt: skip
    assert built_ok.exit_code == 0, built_ok.output
    start = time.perf_counter()
    generated = invoke(
        "generate", evals, "--model", smollm2, "-o", answers, "--max-new-tokens", 64, "--batch-size", 4,
        "--limit", 4, "--device", "cpu", "--threads", 1, "-q",  # one thread: two oversubscribe a busy 2-core machine
    )  # fmt: skip
    assert generated.exit_code == 0, generated.output
    rows = [json.loads(line) for line in answers.read_text(encoding="utf-8").splitlines()]
    ids = [json.loads(line)["id"] for line in evals.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ids[:4]
    assert all(isinstance(r["response"], str) and r["response"].strip() for r in rows)
    assert not any("<|im_start|>" in r["response"] or "<|im_end|>" in r["response"] for r in rows)
    scored = invoke("score", evals, answers, "--json", report, "--rouge")
    assert scored.exit_code == 0, scored.output
    data = json.loads(report.read_text())
    assert (
        data["counts"]["prompts"] == 5
        and data["counts"]["missing"] == 1
        and data["counts"]["answers_read"] == 4
    )
    assert (
        0 <= data["strict"]["overall"]["prompt_accuracy"] <= data["loose"]["overall"]["prompt_accuracy"] <= 1
    )
    assert 0 < data["content"]["overall"]["rouge_l"] < 1
    print(f"\nSmolLM2: generated 4 answers in {time.perf_counter() - start:.1f}s\n{scored.stdout}")
