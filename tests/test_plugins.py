"""Strategies from other packages: the worked example of docs/plugins.md, installed as a package.

The plugin is built from the documentation's own code blocks and installed the way pip leaves a
package (its module folder beside a ``*.dist-info`` with ``entry_points.txt``), so
``importlib.metadata`` finds it through the real entry point discovery. The runs happen in
subprocesses with that folder on ``PYTHONPATH``: this process keeps the registry without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE
from mosaicit.plan.strategies import STRATEGIES, plugins
from mosaicit.plan.strategies.plugins import load_plugins

DOC = ROOT / "docs" / "plugins.md"
ENTRY = "bookends = mosaicit_bookends.strategy:Bookends"
WEIGHTS = "format=1,bookends=1"


def doc_files() -> dict[str, str]:
    """The files of the worked example: each code block that follows a line naming its file."""
    text = DOC.read_text(encoding="utf-8")
    return dict(
        re.findall(r"^`([\w./-]+)`(?: \([^)]*\))?:\n\n```\w*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    )


def install(root: Path, files: dict[str, str], entry: str = ENTRY, name: str = "mosaicit-bookends") -> Path:
    """Lay the package out in ``root`` as an installed distribution (module folder and dist-info)."""
    for path, text in files.items():
        if path != "pyproject.toml":
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[mosaicit.strategies]\n{entry}\n", encoding="utf-8")
    return root


def mosaicit(site: Path | None, *args: object, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI (or ``code``) in a fresh interpreter that sees ``site`` as installed packages."""
    paths = [str(ROOT / "src"), *([str(site)] if site else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "mosaicit", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bookends package of docs/plugins.md, installed."""
    files = doc_files()
    assert set(files) == {
        "pyproject.toml",
        "mosaicit_bookends/strategy.py",
        "mosaicit_bookends/bookends.yaml",
        "mosaicit_bookends/check.py",
    }
    assert ENTRY.replace(" = ", ' = "') + '"' in files["pyproject.toml"], (
        "the doc's entry point is the one installed"
    )
    return install(tmp_path_factory.mktemp("site"), {**files, "mosaicit_bookends/__init__.py": ""})


RENDER_AGAIN = """
import json, sys
from mosaicit import render
from mosaicit.types.plan import Plan
records = {r["id"]: r for r in map(json.loads, open(sys.argv[1], encoding="utf-8"))}
seen = {}
for row in map(json.loads, open(sys.argv[2], encoding="utf-8")):
    plan = Plan.from_dict(json.loads(row["mosaic"]))
    chosen = [records[i] for i in json.loads(row["mosaic"])["ids"]]
    prompts = {s: r["instruction"] + ("\\n" + r["input"] if r["input"] else "") for s, r in zip(plan.sources, chosen)}
    outputs = {s: r["output"] for s, r in zip(plan.sources, chosen)}
    assert render(plan, prompts, outputs) == (row["instruction"], row["output"]), row
    seen[plan.strategy] = seen.get(plan.strategy, 0) + 1
print(json.dumps(seen))
"""


def test_plugin_is_listed_drawn_rendered_and_leaves_other_runs_unchanged(site, tmp_path):
    listed = mosaicit(site, "tables", "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"bookends\.wordings\s+3", listed.stdout)
    assert re.search(r"bookends\s+rank 100, entry point 'bookends = .*' \(mosaicit-bookends\)", listed.stdout)
    assert "bookends" in mosaicit(site, "augment", "--help").stdout.split("Strategies:")[1].split(".")[0]

    out = tmp_path / "out.jsonl"
    run = mosaicit(site, "augment", SAMPLE, "-o", out, "--weights", WEIGHTS, "--seed", "5", "-q")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    plans = [json.loads(r["mosaic"]) for r in rows]
    ends = [p for p in plans if p["strategy"] == "bookends"]
    assert ends and {p["strategy"] for p in plans} == {"format", "bookends"}
    for plan in ends:
        assert plan["answer_order"] == [plan["sources"][0], plan["sources"][-1]]
        assert plan["skipped"] == plan["sources"][1:-1]
        assert (
            plan["rule"] == "first_last"
            and plan["rule_meta"] in doc_files()["mosaicit_bookends/bookends.yaml"]
        )
    again = mosaicit(
        site,
        code=RENDER_AGAIN.replace("sys.argv[1]", repr(str(SAMPLE))).replace("sys.argv[2]", repr(str(out))),
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"format": len(plans) - len(ends), "bookends": len(ends)}
    summary = json.loads(out.with_name("out.jsonl.summary.json").read_text(encoding="utf-8"))
    assert "bookends" in json.dumps(summary["config"])

    shown = mosaicit(site, "preview", SAMPLE, "-n", "6", "--plain", "--weights", WEIGHTS, "--seed", "5")
    assert shown.returncode == 0, shown.stderr
    first = [p for p in plans[:6] if p["strategy"] == "bookends"]
    assert first and all(p["rule_meta"] in shown.stdout for p in first), "preview shows what augment writes"

    # Installed but not weighted: the same bytes as without the plugin.
    plain = [tmp_path / "with.jsonl", tmp_path / "without.jsonl"]
    for where, path in zip((site, None), plain, strict=True):
        done = mosaicit(
            where,
            "augment",
            SAMPLE,
            "-o",
            path,
            "--seed",
            "5",
            "--weights",
            "format=1,permute=1,maskout=1",
            "-q",
        )
        assert done.returncode == 0, done.stderr
    assert plain[0].read_bytes() == plain[1].read_bytes()


def test_eval_builds_and_scores_the_plugin_with_its_own_check(site, tmp_path):
    evals, report = tmp_path / "evals.jsonl", tmp_path / "report.json"
    built = mosaicit(
        site, "eval", "build", SAMPLE, "-o", evals, "--weights", WEIGHTS, "--size", "30", "--seed", "2"
    )
    assert built.returncode == 0, built.stderr
    items = [json.loads(line) for line in evals.read_text(encoding="utf-8").splitlines()]
    ends = [i for i in items if i["plan"]["strategy"] == "bookends"]
    assert len(ends) >= 5
    references = tmp_path / "references.jsonl"
    references.write_text(
        "".join(json.dumps({"id": i["id"], "response": i["reference"]}) + "\n" for i in items)
    )
    scored = mosaicit(site, "eval", "score", evals, references, "--json", report)
    assert scored.returncode == 0, scored.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["strict"]["overall"]["prompts_passed"] == len(items)
    assert re.search(rf"bookends\s+layout\s+{len(ends)}\b", scored.stdout), scored.stdout

    # Answering every instruction of a bookends prompt breaks its check (and the built-in ones).
    code = f"""
import json
from mosaicit.eval import read_evalset, score_answers
from mosaicit.render.layout import render
from dataclasses import replace
items = read_evalset({str(evals)!r})
answers = {{}}
for item in items:
    plan = replace(item.plan, answer_order=item.plan.sources, skipped=())
    prompts = {{s.index: s.prompt for s in item.sources}}
    outputs = {{s.index: s.output for s in item.sources}}
    answers[item.id] = render(plan, prompts, outputs)[1] if item.plan.strategy == "bookends" else item.reference
report = score_answers(items, answers)
print(json.dumps([r.outcomes["strict"].verdicts for r in report.results if r.item.plan.strategy == "bookends"], default=repr))
"""
    broken = mosaicit(site, code=code)
    assert broken.returncode == 0, broken.stderr
    longer = sum(len(i["plan"]["sources"]) > 2 for i in ends)
    assert longer and broken.stdout.count("Verdict(name='bookends', applies=True, passed=False") == longer

    # Without the package, its prompts cannot be checked: one line, naming the prompt.
    missing = mosaicit(None, "eval", "score", evals, references)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert re.fullmatch(
        r"mosaicit: error: eval set prompt \S+: strategy 'bookends' is not installed.*\n", missing.stderr
    )


def test_a_broken_plugin_fails_only_the_runs_that_draw_it(tmp_path):
    site = install(tmp_path / "site", {}, entry="bookends = mosaicit_bookends.missing:Bookends")
    out = tmp_path / "out.jsonl"
    asked = mosaicit(site, "augment", SAMPLE, "-o", out, "--weights", WEIGHTS, "-q")
    assert asked.returncode != 0 and not out.exists()
    assert "Traceback" not in asked.stderr and len(asked.stderr.splitlines()) == 1
    assert "entry point 'bookends = mosaicit_bookends.missing:Bookends' (mosaicit-bookends)" in asked.stderr
    assert "ModuleNotFoundError" in asked.stderr
    fine = mosaicit(site, "augment", SAMPLE, "-o", out, "--seed", "3", "-q")
    assert fine.returncode == 0 and fine.stderr == ""
    listed = mosaicit(site, "tables", "list")
    assert re.search(r"bookends\s+not loaded: entry point", listed.stdout)


def _entry(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, target, plugins.GROUP)


@pytest.mark.parametrize(
    ("name", "attrs", "problem"),
    [
        ("permute", {"name": "permute", "rank": 100}, "the name 'permute' is taken"),
        ("shout", {"name": "shout", "rank": 3}, "rank must be an integer of at least 100"),
        ("shout", {"name": "shout", "rank": 100}, "rank 100 is taken by strategy 'echo'"),
        ("shout", {"name": "loud", "rank": 101}, "the strategy's name is 'loud'"),
        ("tags", {"name": "tags", "rank": 101}, "must be a lowercase identifier and no table section"),
        ("shout", {"name": "shout", "rank": 101, "mixes": ("both",)}, "joins no mix"),
        (
            "shout",
            {"name": "shout", "rank": 101, "section": "shout"},
            "has the section 'shout' but no default_table",
        ),
        (
            "shout",
            {"name": "shout", "rank": 101, "section": "shout", "default_table": {"wordings": []}},
            "its table is not valid",
        ),
    ],
)
def test_unfit_plugins_are_left_out_with_one_line(monkeypatch, name, attrs, problem):
    from mosaicit.plan.strategies.base import Strategy

    class Echo(Strategy):
        name, rank = "echo", 100

    def load_table(self, check):  # noqa: ANN001, ANN202
        return check.strings("shout.wordings")

    unfit = type("Unfit", (Strategy,), {"load_table": load_table, **attrs})
    monkeypatch.setattr(sys.modules[__name__], "Unfit", unfit, raising=False)
    monkeypatch.setattr(plugins, "BROKEN", {})
    registry = dict(STRATEGIES)
    registry["echo"] = Echo()
    load_plugins([_entry(name, f"{__name__}:Unfit")], registry)
    assert list(plugins.BROKEN) == [name] and problem in plugins.BROKEN[name]
    assert plugins.BROKEN[name].startswith(f"entry point '{name} = {__name__}:Unfit' (unknown package): ")
    assert name not in registry or registry[name] is STRATEGIES.get(name)


def test_two_packages_with_one_name_are_both_left_out(monkeypatch):
    monkeypatch.setattr(plugins, "BROKEN", {})
    registry = dict(STRATEGIES)
    load_plugins([_entry("twin", "a.b:C"), _entry("twin", "d.e:F")], registry)
    assert "twin" not in registry and "several entry points" in plugins.BROKEN["twin"]
    assert registry == STRATEGIES, "the built-in strategies and their order are untouched"


def test_a_strategy_whose_check_did_not_load_is_not_scored(tmp_path):
    files = {k: v for k, v in doc_files().items() if k != "mosaicit_bookends/check.py"}
    site = install(tmp_path / "site", {**files, "mosaicit_bookends/__init__.py": ""})
    evals, answers = tmp_path / "evals.jsonl", tmp_path / "answers.jsonl"
    built = mosaicit(site, "eval", "build", SAMPLE, "-o", evals, "--weights", "bookends=1", "--size", "5")
    assert built.returncode == 0, built.stderr
    rows = [json.loads(line) for line in evals.read_text(encoding="utf-8").splitlines()]
    answers.write_text("".join(json.dumps({"id": r["id"], "response": r["reference"]}) + "\n" for r in rows))
    scored = mosaicit(site, "eval", "score", evals, answers)
    assert scored.returncode == 1 and len(scored.stderr.splitlines()) == 1, scored.stderr
    assert (
        f"prompt {rows[0]['id']}: entry point '{ENTRY}' (mosaicit-bookends): its check module"
        in scored.stderr
    )
    assert "mosaicit_bookends.check cannot be loaded: ModuleNotFoundError" in scored.stderr
