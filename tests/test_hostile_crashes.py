"""Hostile input that used to end in a traceback or a hang: one error line each, within seconds.

Each case is a row of docs/hostile-input.md ("Crashes, hangs, signals and Ray"). The runs are
in-process (click's runner), on real tokenizers; the bounds (how long a pipe may stay silent,
how long a template may render) are lowered here so that the tests stay quick.
"""

from __future__ import annotations

import gzip
import importlib
import json
import os
import shutil
import threading
import time

import pytest
import zstandard
from click.testing import CliRunner

from conftest import SAMPLE, TOKENIZERS
from mosaicit.cli import main

CL100K = TOKENIZERS / "cl100k" / "cl100k_base.tiktoken"
#: A chat template that writes each message once and in order (a valid one to break).
MESSAGES = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def augment(tmp_path, source, *extra: object):
    out = tmp_path / "out.jsonl"
    args = ["augment", source, "-o", out, "-q", "--workers", "1", "--no-cache", "--epochs", "1", *extra]
    return run(*args), out


def error_line(result) -> str:
    """The one line of a run that failed cleanly (status 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaicit: error: ")
    return lines[0]


def failed_cleanly(tmp_path, result, out) -> str:
    """The error line, with nothing written (no output, no side files)."""
    line = error_line(result)
    assert not list(tmp_path.glob(out.name + "*")), "a failed run wrote something"
    return line


# -- compressed input ------------------------------------------------------------------------


def test_a_zst_file_of_garbage_is_one_line(tmp_path):
    data = tmp_path / "d.jsonl.zst"
    data.write_bytes(os.urandom(4000))
    result, out = augment(tmp_path, data)
    assert failed_cleanly(tmp_path, result, out).startswith(f"mosaicit: error: {data}: cannot read: ")


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_a_small_compressed_file_holding_one_endless_line_stops_at_the_record_limit(tmp_path, suffix):
    """The decompression bomb: 300 MB of one line in under 1 MB; reading stops after the limit."""
    data = tmp_path / f"bomb.jsonl{suffix}"
    chunk = b"a" * 2**20
    if suffix == ".gz":
        with gzip.open(data, "wb", compresslevel=9) as f:
            f.write(b'{"instruction": "')
            for _ in range(300):
                f.write(chunk)
    else:
        with zstandard.open(data, "wb") as f:
            f.write(b'{"instruction": "')
            for _ in range(300):
                f.write(chunk)
    assert data.stat().st_size < 2**20
    start = time.monotonic()
    result, out = augment(tmp_path, data, "--max-record-mb", "4")
    assert time.monotonic() - start < 20
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {data}: record 0: line 1 holds over 4 MiB of text without ending a record; "
        "raise --max-record-mb if records this large are meant"
    )


def test_an_array_item_over_the_record_limit_is_one_line_naming_it(tmp_path):
    data = tmp_path / "d.json"
    good = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    data.write_text(json.dumps([good, {"instruction": "x" * (2 * 2**20), "output": "y"}]))
    result, out = augment(tmp_path, data, "--max-record-mb", "1")
    line = failed_cleanly(tmp_path, result, out)
    assert line.startswith(f"mosaicit: error: {data}: record 1: the item at line 1, column ")
    assert line.endswith(
        "holds over 1 MiB of text without ending a record; raise --max-record-mb if records this large are meant"
    )


def test_a_record_under_a_raised_limit_is_read(tmp_path):
    data = tmp_path / "d.jsonl"
    long = {"instruction": "Repeat: " + "word " * 300_000, "output": "ok"}  # 1.5 MB
    data.write_text(SAMPLE.read_text(encoding="utf-8") + json.dumps(long) + "\n")
    result, _ = augment(tmp_path, data, "--max-record-mb", "1")
    assert "record 120: line 121 holds over 1 MiB" in error_line(result)
    result, out = augment(tmp_path, data, "--max-record-mb", "2", "--max-length", "400000")
    assert result.exit_code == 0, result.stderr
    assert out.exists()


def test_the_record_limit_has_bounds(tmp_path):
    result, _ = augment(tmp_path, SAMPLE, "--max-record-mb", "0")
    assert error_line(result) == "mosaicit: error: --max-record-mb must be between 1 and 1048576, got 0"


# -- special files ---------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_nobody_writes_to_is_one_line_after_the_wait(tmp_path, monkeypatch):
    monkeypatch.setattr("mosaicit.io.streams.FIFO_WAIT_S", 0.5)
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    start = time.monotonic()
    result, out = augment(tmp_path, fifo)
    assert time.monotonic() - start < 15
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {fifo}: a named pipe that nothing wrote to in 0.5 s"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_with_a_writer_is_read_as_a_file(tmp_path, monkeypatch):
    """Process substitution (<(zcat data.jsonl.gz)) is a pipe: it is read, not refused."""
    monkeypatch.setattr("mosaicit.io.streams.FIFO_WAIT_S", 20)
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as pipe:  # opens once the run opens the pipe to read
            time.sleep(0.3)  # a producer that is slow to start
            pipe.write(SAMPLE.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    result, out = augment(tmp_path, fifo)
    writer.join()
    assert result.exit_code == 0, result.stderr
    again = tmp_path / "again"
    again.mkdir()
    expected, same = augment(again, SAMPLE)
    assert expected.exit_code == 0
    assert out.read_bytes() == same.read_bytes()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="a character device")
def test_a_device_is_refused(tmp_path):
    result, out = augment(tmp_path, "/dev/zero")
    assert failed_cleanly(tmp_path, result, out) == (
        "mosaicit: error: /dev/zero: not a regular file or a pipe (a device or a socket is not read)"
    )


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="a character device")
@pytest.mark.parametrize("option", ["--tables", "--config", "--chat-template"])
def test_a_device_or_a_silent_pipe_as_an_options_file_is_one_line(tmp_path, monkeypatch, option):
    """``--config /dev/zero`` and ``--chat-template /dev/zero`` read until the memory ran out
    (over 20 GB); a named pipe with no writer blocked in ``open()`` for ever (``--tables`` too)."""
    monkeypatch.setattr("mosaicit.io.streams.FIFO_WAIT_S", 0.5)
    extra = ("--template", "chat", "--tokenizer", TOKENIZERS / "qwen3") if option == "--chat-template" else ()
    result, out = augment(tmp_path, SAMPLE, option, "/dev/zero", *extra)
    assert failed_cleanly(tmp_path, result, out) == (
        "mosaicit: error: /dev/zero: not a regular file or a pipe (a device or a socket is not read)"
    )
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "silent.yaml"
        os.mkfifo(fifo)
        result, out = augment(tmp_path, SAMPLE, option, fifo, *extra)
        assert failed_cleanly(tmp_path, result, out).endswith("a named pipe that nothing wrote to in 0.5 s")


def test_a_chat_template_over_a_mib_is_one_line(tmp_path):
    big = tmp_path / "big.jinja"
    big.write_text(MESSAGES + "{# " + "x" * (1 << 20) + " #}", encoding="utf-8")
    extra = ("--template", "chat", "--tokenizer", TOKENIZERS / "qwen3", "--chat-template", big)
    result, out = augment(tmp_path, SAMPLE, *extra)
    assert failed_cleanly(tmp_path, result, out).endswith(
        f"{big}: chat templates larger than 1 MiB are not read"
    )


# -- tokenizer files -------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [0, 100], ids=["empty", "cut short"])
def test_an_empty_or_cut_tiktoken_file_is_one_line(tmp_path, lines):
    ranks = tmp_path / "cut.tiktoken"
    ranks.write_text("".join(CL100K.read_text().splitlines(keepends=True)[:lines]))
    result, out = augment(tmp_path, SAMPLE, "--tokenizer", ranks)
    missing = 256 - min(lines, 256)
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {ranks}: not a usable tiktoken rank file: {missing} of the 256 single bytes "
        f"have no rank ({lines} ranks read; is the file empty or cut short?)"
    )


def _emptied(tmp_path, name: str):
    """A copy of a real tokenizer folder whose model has an empty vocabulary."""
    folder = tmp_path / f"{name}-empty"
    shutil.copytree(TOKENIZERS / name, folder)
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tok["model"]["vocab"] = {}
    tok["model"]["merges"] = []
    (folder / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("qwen3", "its vocabulary is empty"),  # used to count every text as 0 tokens, exit 0
        ("llama-2", "Unk token `<unk>` not found in the vocabulary"),  # used to be a traceback
    ],
)
def test_a_tokenizer_json_with_an_empty_vocabulary_is_one_line(tmp_path, name, says):
    folder = _emptied(tmp_path, name)
    result, out = augment(tmp_path, SAMPLE, "--tokenizer", folder)
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {folder / 'tokenizer.json'}: not a usable tokenizer.json: {says}"
    )


def _chat_folder(tmp_path, config) -> object:
    folder = tmp_path / "tok"
    folder.mkdir()
    shutil.copy(TOKENIZERS / "qwen3" / "tokenizer.json", folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_a_tokenizer_config_that_is_a_list_is_one_line(tmp_path):
    folder = _chat_folder(tmp_path, [{"chat_template": MESSAGES}])
    result, out = augment(tmp_path, SAMPLE, "--tokenizer", folder, "--template", "chat")
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {folder / 'tokenizer_config.json'}: not a readable tokenizer config: "
        "a JSON list, not an object"
    )


def test_a_tokenizer_config_whose_template_does_not_compile_is_one_line(tmp_path):
    folder = _chat_folder(tmp_path, {"chat_template": "{% for m in messages %}{{ m.content }"})
    result, out = augment(tmp_path, SAMPLE, "--tokenizer", folder, "--template", "chat")
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {folder}: not a valid chat template: line 1: unexpected '}}'"
    )


# -- user chat templates ---------------------------------------------------------------------

BROKEN_TEMPLATES = {
    "a syntax error": ("{% for m in messages %}{{ m.content }", "line 1: unexpected '}'"),
    "{% do %}": ("{% do messages.append(1) %}" + MESSAGES, "line 1: Encountered unknown tag 'do'."),
    "a generator expression": (
        "{{ (m for m in messages) }}" + MESSAGES,
        "line 1: expected token ')', got 'for'",
    ),
    "deep nesting": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}" + MESSAGES, "nested too deeply"),
    "an error on line 3": (
        "{# a #}\n{# b #}\n{% endfor %}" + MESSAGES,
        "line 3: Encountered unknown tag 'endfor'.",
    ),
}


@pytest.mark.parametrize("case", BROKEN_TEMPLATES)
def test_a_chat_template_that_does_not_compile_is_one_line(tmp_path, case):
    text, says = BROKEN_TEMPLATES[case]
    template = tmp_path / "t.jinja"
    template.write_text(text, encoding="utf-8")
    result, out = augment(
        tmp_path,
        SAMPLE,
        "--tokenizer",
        TOKENIZERS / "qwen3",
        "--template",
        "chat",
        "--chat-template",
        template,
    )
    assert (
        failed_cleanly(tmp_path, result, out)
        == f"mosaicit: error: {template}: not a valid chat template: {says}"
    )


def test_a_chat_template_that_loops_for_ever_is_stopped_at_the_time_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("mosaicit.render.jinja_chat"), "RENDER_SECONDS", 0.5)
    template = tmp_path / "loop.jinja"
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    template.write_text(loop + MESSAGES, encoding="utf-8")
    start = time.monotonic()
    result, out = augment(
        tmp_path,
        SAMPLE,
        "--tokenizer",
        TOKENIZERS / "qwen3",
        "--template",
        "chat",
        "--chat-template",
        template,
    )
    assert time.monotonic() - start < 30
    assert failed_cleanly(tmp_path, result, out) == (
        f"mosaicit: error: {SAMPLE}: record 0: the chat template of {template} failed to render "
        "user/assistant: stopped after 0.5 s (a loop that does not end?)"
    )


def test_the_time_limit_leaves_a_real_template_as_transformers_renders_it(tmp_path):
    """The clock checks compiled into every block change nothing in what is rendered."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from mosaicit.render.jinja_chat import compile_template, read_chat_config

    text, tokens = read_chat_config(TOKENIZERS / "qwen3")
    assert text is not None
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name two colours."},
        {"role": "assistant", "content": "Red and blue."},
    ]
    ours = compile_template(text)(messages=messages, add_generation_prompt=False, **tokens)
    plain = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    plain.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False, **kw)
    theirs = plain.from_string(text).render(messages=messages, add_generation_prompt=False, **tokens)
    assert ours == theirs
    assert "Red and blue." in ours


# -- preview ---------------------------------------------------------------------------------


def test_preview_with_a_negative_count_is_one_line():
    result = run("preview", SAMPLE, "-n", "-1")
    assert error_line(result) == "mosaicit: error: -n/--count must be 0 or more, got -1"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["augment", SAMPLE, "-o", "{out}", "--max-length", "abc"], "'abc' is not a valid integer"),
        (["augment", SAMPLE, "-o", "{out}", "--bogus"], "No such option '--bogus'"),
        (["augment", SAMPLE], "Missing option '-o'"),
        (["augment"], "Missing argument 'INPUT...'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["eval", "build", "--bogus"], "No such option '--bogus'"),
        (["preview", SAMPLE, "-n", "x"], "'x' is not a valid integer"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help(tmp_path, args, says):
    result = run(*[str(a).format(out=tmp_path / "o.jsonl") for a in args])
    lines = result.output.splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("mosaicit: error: ") and says in lines[0] and "--help'" in lines[0]
    assert not (tmp_path / "o.jsonl").exists()
