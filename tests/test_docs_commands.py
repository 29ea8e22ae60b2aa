"""Every shell command of the README and docs/ runs as written, or is listed here with the reason
it is not run.

Each page's ``mosaicit`` commands run in order, in a scratch folder of their own that holds the
files the docs name (``examples/sample_alpaca.jsonl``, ``data.jsonl``, ``path/to/model_dir``, the
``run.yaml`` of docs/api.md...; see ``scratch``), made from the bundled sample and the shared
assets, with ``../shared/assets`` beside it. Each must exit 0 and write its ``-o``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conftest import ASSETS, ROOT, SAMPLE
from docs_helpers import PAGES, blocks, commands, page_name

TOKENIZER = ASSETS / "tokenizers" / "llama-3.1"  # a model folder: tokenizer.json and a chat template

# Programs the tests never run, by how their command starts: installs, downloads, suites, long runs.
NOT_RUN = {
    "pip install": "installs packages (network)",
    "apt-get install": "installs Chromium (network, root)",
    "bash ../shared/scripts/fetch_smollm2.sh": "downloads a model",
    "python -m pytest": "the test suite itself",
    "ruff": "a linter, run by .ci/run",
    "mypy": "a type checker, run by .ci/run",
    "python bench/": "a benchmark: minutes of timing; tests/test_bench.py runs its parts small",
    "python experiments/": "trains models (the experiments extra); tests/test_experiment_smoke.py runs it",
    "nohup": "the evidence run: hours of training",
    "git add": "commits results",
    "mkdir -p out": "the scratch folder has out/ already",
    "torchrun": "FastChat's trainer: a GPU and a model",
}

SYNOPSIS = "a synopsis"
# mosaicit commands that are not run, each by its words joined by spaces (comment dropped).
EXCLUDED = {
    # the README's list of commands: forms with placeholders, not commands
    "mosaicit augment INPUT... -o OUTPUT [options]": SYNOPSIS,
    "mosaicit augment --config run.yaml [options]": SYNOPSIS,
    "mosaicit augment INPUT... --dry-run [options]": SYNOPSIS,
    "mosaicit preview INPUT... -n 3 [options]": SYNOPSIS,
    "mosaicit convert INPUT... -o OUTPUT --output-format messages": SYNOPSIS,
    "mosaicit report OUTPUT [OUTPUT2]": SYNOPSIS,
    "mosaicit eval build|generate|score ...": SYNOPSIS,
    "mosaicit tables list [--tables PATH]": SYNOPSIS,
    "mosaicit augment INPUT -o OUT --tables mine.yaml": SYNOPSIS,
    # a model answers
    "mosaicit eval generate evals.jsonl --model path/to/model_dir -o answers.jsonl": "needs a model and the eval extra",
    "mosaicit eval generate out/evals.jsonl --model models/smollm2 -o out/answers.jsonl --max-new-tokens 256 "
    "--batch-size 8 --threads 1 -q": "needs a model and the eval extra",
    "mosaicit eval score evals.jsonl answers.jsonl --rouge --json report.json": "scores eval generate's answers",
    "mosaicit eval score out/evals.jsonl out/answers.jsonl --rouge --json out/report.json "
    "--details out/details.jsonl": "scores eval generate's answers",
    # the plugin of docs/plugins.md: tests/test_plugins.py installs it and runs these
    "mosaicit tables list | grep bookends": "needs the docs' plugin installed; tests/test_plugins.py",
    "mosaicit augment data.jsonl -o out.jsonl --weights format=1,bookends=1": "needs the docs' plugin; test_plugins.py",
    "mosaicit preview data.jsonl -n 3 --weights format=1,bookends=1": "needs the docs' plugin; test_plugins.py",
    "mosaicit eval build data.jsonl -o evals.jsonl --weights format=1,bookends=1": "needs the docs' plugin",
    "mosaicit eval score evals.jsonl answers.jsonl": "scores a model's answers; tests/test_plugins.py",
}


def page_commands(page: Path) -> list[str]:
    """The page's commands, each as its words joined by spaces."""
    return [" ".join(words) for words in commands(page.read_text(encoding="utf-8"))]


def is_run(command: str) -> bool:
    """Whether the test runs the command (it is mosaicit's and not excluded)."""
    return command.startswith("mosaicit ") and command not in EXCLUDED


RUN_PAGES = [page for page in PAGES if any(is_run(command) for command in page_commands(page))]
SLOW_PAGES = {"docs/report.md": "three runs and three reports drawn with matplotlib: about 15 s"}


def scratch(folder: Path) -> Path:
    """The folder the docs' commands run in, holding every file they name; ``../shared/assets``
    beside it is the shared assets."""
    (folder / "shared").mkdir()
    (folder / "shared" / "assets").symlink_to(ASSETS, target_is_directory=True)
    work = folder / "checkout"
    for name in ("examples", "data", "path/to", "models", "out"):
        (work / name).mkdir(parents=True)
    shutil.copy(SAMPLE, work / "examples")
    shutil.copy(SAMPLE, work / "data.jsonl")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    (work / "data" / "part1.jsonl").write_text("".join(lines[:60]), encoding="utf-8")
    (work / "data" / "part2.jsonl").write_text("".join(lines[60:]), encoding="utf-8")
    shutil.copy(SAMPLE, work / "held_out.jsonl")
    (work / "path" / "to" / "model_dir").symlink_to(TOKENIZER, target_is_directory=True)
    (work / "models" / "llama-3.1").symlink_to(TOKENIZER, target_is_directory=True)
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    (run_yaml,) = [body for lang, body in blocks(api) if lang == "yaml" and body.startswith("# run.yaml\n")]
    (work / "run.yaml").write_text(run_yaml, encoding="utf-8")
    return work


def run_mosaicit(words: list[str]) -> None:
    """Run one ``mosaicit`` command in-process in the current folder; it must succeed and write its -o."""
    from mosaicit.cli import main

    command, args = " ".join(words), words[1:]
    assert not set(args) & {"|", ">", "<", ";", "&"}, f"{command}: a pipe or redirection: list it in EXCLUDED"
    done = CliRunner().invoke(main, args, catch_exceptions=False)
    assert done.exit_code == 0, f"{command}\n{done.output}"
    if "-o" in args and args[args.index("-o") + 1] != "-":
        output = Path(args[args.index("-o") + 1])
        assert output.exists(), f"{command}: wrote no {output}"
        if "--emit-dataset-info" in args:
            assert output.with_name("dataset_info.json").is_file(), f"{command}: wrote no dataset_info.json"


def parse(words: list[str]) -> dict:
    """The options the real CLI parses from a ``mosaicit`` command (up to a pipe), running nothing."""
    from mosaicit.cli import main

    command, name, args = main, "mosaicit", words[1 : words.index("|") if "|" in words else None]
    while isinstance(command, click.Group):
        context = command.make_context(name, args)
        # a group keeps the name of its command in _protected_args
        name, command, args = command.resolve_command(context, [*context._protected_args, *context.args])
    with command.make_context(name, args) as context:
        return context.params


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, marks=[pytest.mark.slow] if page_name(page) in SLOW_PAGES else [])
        for page in RUN_PAGES
    ],
    ids=page_name,
)
def test_the_pages_mosaicit_commands_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(scratch(tmp_path))
    for words in commands(page.read_text(encoding="utf-8")):
        if is_run(" ".join(words)):
            run_mosaicit(words)


def test_the_commands_not_run_parse_with_the_real_cli():
    for page in PAGES:
        for words in commands(page.read_text(encoding="utf-8")):
            if EXCLUDED.get(" ".join(words), SYNOPSIS) != SYNOPSIS:  # listed, and a real command
                assert parse(words), " ".join(words)


def test_every_command_is_run_or_excluded_with_a_reason():
    unsorted = [
        f"{page_name(page)}: {command}"
        for page in PAGES
        for command in page_commands(page)
        if not command.startswith("mosaicit ") and not command.startswith(tuple(NOT_RUN))
    ]
    assert unsorted == [], "run these, or add their program to NOT_RUN with the reason"


def test_the_exclusions_are_in_the_docs():
    every = {command for page in PAGES for command in page_commands(page)}
    assert set(EXCLUDED) - every == set(), "an excluded command left the docs: remove it from EXCLUDED"
    assert all(any(command.startswith(start) for command in every) for start in NOT_RUN)


def test_the_readme_and_docs_run_commands():
    run = [command for page in PAGES for command in page_commands(page) if is_run(command)]
    assert len(run) >= 15
    assert "mosaicit augment examples/sample_alpaca.jsonl -o out/sample_mosaic.jsonl" in run


def test_a_command_is_cut_at_and_and_loses_its_comment():
    text = "```bash\npip install . && mosaicit augment a.jsonl \\\n  -o 'b c.jsonl'   # a comment\n```\n"
    assert commands(text) == [["pip", "install", "."], ["mosaicit", "augment", "a.jsonl", "-o", "b c.jsonl"]]
    assert commands("```\n$ mosaicit tables list | grep x\nout\n```\n") == [
        "mosaicit tables list | grep x".split()
    ]
    with pytest.raises(AssertionError, match="a pipe or redirection"):
        run_mosaicit("mosaicit tables list | grep x".split())
    with pytest.raises(click.NoSuchOption):
        parse("mosaicit eval score a.jsonl b.jsonl --no-such-option".split())
