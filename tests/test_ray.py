"""Sharded runs on every executor: Ray writes the bytes of the local and fork-worker runs.

One local Ray instance (2 CPUs, no dashboard) is started for the module; its workers import
this checkout's code. The input is real (AlpacaEval records) split into JSONL and Parquet files,
with records that must be rejected, so the accounting across shards is checked too.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

from conftest import ROOT, SAMPLE, TOKENIZERS
from formats_helpers import read_rows
from mosaicit.cli import main
from ray_helpers import local_ray

pytestmark = pytest.mark.heavy
ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")
pafs = pytest.importorskip("pyarrow.fs")

EPOCHS = 2
SHARDS = 4
MAX_LENGTH = 700


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result) -> str:
    """The one error line of a failed run."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mosaicit: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the module (see :func:`ray_helpers.local_ray`)."""
    with local_ray() as ray_module:
        yield ray_module


@pytest.fixture(scope="module")
def shards_input(tmp_path_factory, alpaca_eval) -> Path:
    """A folder of 2 JSONL and 2 Parquet files of real records, with 3 that must be rejected."""
    folder = tmp_path_factory.mktemp("ray") / "input"
    (folder / "more").mkdir(parents=True)
    rows = [{"instruction": r["instruction"], "output": r["output"]} for r in alpaca_eval[:240]]
    rows[5]["output"] = " "  # empty_output
    rows[70]["output"] = "word " * 2000  # over_budget
    rows[200]["instruction"] = ""  # empty_instruction
    parts = [rows[0:50], rows[50:130], rows[130:190], rows[190:240]]
    for name, part in zip(("a.jsonl", "b.parquet", "more/c.jsonl", "more/d.parquet"), parts, strict=True):
        if name.endswith(".parquet"):
            pq.write_table(pa.Table.from_pylist(part), folder / name)
        else:
            (folder / name).write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return folder


def augment(src, out: Path, *extra: object):
    result = invoke(
        "augment", src, "-o", out, "-q", "--no-cache", "--epochs", EPOCHS, "--max-length", MAX_LENGTH,
        "--seed", 3, "--workers", 2, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def runs(cluster, shards_input, tmp_path_factory) -> dict[str, Path]:
    """The same sharded run on each executor."""
    out = tmp_path_factory.mktemp("runs")
    return {
        ex: augment(shards_input, out / f"{ex}.jsonl", "--executor", ex, "--shards", SHARDS)
        for ex in ("local", "workers", "ray")
    }


def mosaics(path: Path) -> list[dict]:
    return [row["mosaic"] for row in read_rows(path)]


def test_ray_writes_the_bytes_of_local_and_workers(runs):
    local = runs["local"].read_bytes()
    assert local and runs["ray"].read_bytes() == local
    assert runs["workers"].read_bytes() == local
    rejects = [Path(f"{p}.rejects.jsonl").read_bytes() for p in runs.values()]
    assert rejects[0] and rejects[1] == rejects[0] and rejects[2] == rejects[0]
    summaries = [json.loads(Path(f"{p}.summary.json").read_text()) for p in runs.values()]
    assert [s["executor"] for s in summaries] == ["local", "workers", "ray"]
    for summary in summaries:
        for varies in ("executor", "workers", "output", "cache", "config"):
            summary.pop(varies)
    assert summaries[1] == summaries[0] and summaries[2] == summaries[0]


def test_every_record_is_used_each_epoch_or_rejected_with_a_reason(runs):
    summary = json.loads(Path(f"{runs['ray']}.summary.json").read_text())
    rejects = [json.loads(line) for line in Path(f"{runs['ray']}.rejects.jsonl").read_text().splitlines()]
    assert summary["records_read"] == 240 == summary["records_used"] + summary["records_rejected"]
    assert summary["rejected_by_reason"] == {"empty_instruction": 1, "empty_output": 1, "over_budget": 1}
    assert {r["key"] for r in rejects} == {"a.jsonl:5", "b.parquet:20", "more/d.parquet:10"}
    uses = Counter(key for m in mosaics(runs["ray"]) for key in m["keys"])
    assert summary["record_uses"] == sum(uses.values()) == summary["records_used"] * EPOCHS
    assert set(uses.values()) == {EPOCHS} and len(uses) == summary["records_used"]
    assert not uses.keys() & {r["key"] for r in rejects}
    assert summary["shards"] == {"count": SHARDS, "record_key": "FILE:ROW[:TURN]"}


def test_written_order_is_group_epoch_shard_and_every_shard_is_used(runs):
    order = [(m["epoch"], m["shard"]) for m in mosaics(runs["ray"])]
    assert order == sorted(order)
    assert set(order) == {(e, s) for e in range(EPOCHS) for s in range(SHARDS)}


def test_budget_holds_on_every_shard_under_independent_retokenization(runs):
    tok = Tokenizer.from_file(str(TOKENIZERS / "mistral-7b-v0.1" / "tokenizer.json"))
    rows = read_rows(runs["ray"])
    counts = [
        len(e.ids) for e in tok.encode_batch([r["instruction"] for r in rows], add_special_tokens=False)
    ]
    outs = [len(e.ids) for e in tok.encode_batch([r["output"] for r in rows], add_special_tokens=False)]
    per_shard: dict[int, int] = defaultdict(int)
    for row, n, m in zip(rows, counts, outs, strict=True):
        mosaic = row["mosaic"]
        assert n + m == mosaic["tokens"] <= MAX_LENGTH
        per_shard[mosaic["shard"]] += 1
    assert sorted(per_shard) == list(range(SHARDS))


def test_records_meet_other_partners_in_other_epochs(runs):
    shard_of: dict[str, list[int]] = defaultdict(list)
    partners: dict[str, list[frozenset[str]]] = defaultdict(list)
    for m in mosaics(runs["local"]):
        for key in m["keys"]:
            shard_of[key].append(m["shard"])
            partners[key].append(frozenset(m["keys"]) - {key})
    moved = sum(a != b for a, b in shard_of.values())
    assert moved > len(shard_of) / 2  # 3/4 expected with 4 shards
    same = sum(a == b and a for a, b in partners.values())
    assert same < len(partners) / 20


def test_one_shard_is_the_unsharded_run_on_every_executor(cluster, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(True)[:16]))
    golden = (ROOT / "tests" / "golden" / "sample16_seed11.jsonl").read_bytes()
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.jsonl"
        result = invoke(
            "augment", small, "-o", out, "--seed", 11, "--epochs", 2, "--max-length", 900, "-q",
            "--executor", executor, "--shards", 1,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert out.read_bytes() == golden, executor


def test_without_ray_one_error_line_and_nothing_written(shards_input, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    out = tmp_path / "out.jsonl"
    line = error_line(invoke("augment", shards_input, "-o", out, "--executor", "ray", "-q"))
    assert "needs Ray:" in line and "pip install 'mosaicit[ray]'" in line
    assert list(tmp_path.iterdir()) == []


def test_unreachable_cluster_one_error_line(cluster, shards_input, tmp_path):
    out = tmp_path / "out.jsonl"
    args = ("augment", shards_input, "-o", out, "--executor", "ray", "-q", "--ray-address", "127.0.0.1:1")
    line = error_line(invoke(*args))
    assert line.startswith("mosaicit: error: --ray-address 127.0.0.1:1: cannot reach a Ray cluster there")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("file:///no/such/folder", "file:///no/such/folder: no such file or folder"),
        ("nosuchscheme://bucket/data", "nosuchscheme://bucket/data: cannot open its filesystem"),
    ],
)
def test_unreadable_remote_path_one_error_line(cluster, tmp_path, uri, says):
    out = tmp_path / "out.jsonl"
    line = error_line(invoke("augment", uri, "-o", out, "--executor", "ray", "-q"))
    assert line.startswith(f"mosaicit: error: {says}")
    assert list(tmp_path.iterdir()) == []


def test_broken_file_in_a_remote_folder_names_the_file(cluster, shards_input, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes((shards_input / "a.jsonl").read_bytes())
    (folder / "b.parquet").write_bytes(b"not parquet at all")
    out = tmp_path / "out.jsonl"
    line = error_line(invoke("augment", f"file://{folder}", "-o", out, "--executor", "ray", "-q"))
    assert line.startswith(f"mosaicit: error: file://{folder}/b.parquet: not a readable Parquet file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.fixture(scope="module")
def part_runs(cluster, shards_input, tmp_path_factory) -> dict[str, Path]:
    """The sharded run of :func:`runs`, with part files instead of one output file."""
    out = tmp_path_factory.mktemp("parts")
    return {
        ex: augment(shards_input, out / ex, "--executor", ex, "--shards", SHARDS, "--output-parts", "jsonl")
        for ex in ("local", "workers", "ray")
    }


def test_ray_tasks_write_the_part_files_of_local_and_workers(part_runs, runs):
    names = sorted(p.name for p in part_runs["local"].iterdir())
    assert names == [f"part-g00000-e{e:05d}-s{s:05d}.jsonl" for e in range(EPOCHS) for s in range(SHARDS)]
    for executor in ("workers", "ray"):
        assert sorted(p.name for p in part_runs[executor].iterdir()) == names
        for name in names:
            assert (part_runs[executor] / name).read_bytes() == (part_runs["local"] / name).read_bytes()
    joined = b"".join((part_runs["ray"] / name).read_bytes() for name in names)
    assert joined == runs["local"].read_bytes()  # the parts in name order are the one-file output
    one_rejects = Path(f"{runs['local']}.rejects.jsonl").read_bytes()
    for executor, folder in part_runs.items():
        assert Path(f"{folder}.rejects.jsonl").read_bytes() == one_rejects
        summary = json.loads(Path(f"{folder}.summary.json").read_text())
        assert summary["output_parts"] == names and summary["executor"] == executor
        assert summary["samples_written"] == len(joined.splitlines())


def test_ray_parquet_parts_equal_local_ones_and_load_with_datasets_and_pyarrow(
    cluster, shards_input, tmp_path
):
    datasets = pytest.importorskip("datasets")
    pads = pytest.importorskip("pyarrow.dataset")
    one = augment(shards_input, tmp_path / "one.parquet", "--executor", "local", "--shards", SHARDS)
    folders = {
        ex: augment(
            shards_input, tmp_path / ex, "--executor", ex, "--shards", SHARDS, "--output-parts", "parquet"
        )
        for ex in ("local", "ray")
    }
    names = sorted(p.name for p in folders["local"].iterdir())
    assert len(names) == EPOCHS * SHARDS
    for name in names:
        assert (folders["ray"] / name).read_bytes() == (folders["local"] / name).read_bytes(), name
    expected = pq.read_table(one).to_pylist()
    files = [str(folders["ray"] / name) for name in names]
    assert [row for f in files for row in pq.read_table(f).to_pylist()] == expected
    assert pads.dataset(str(folders["ray"]), format="parquet").count_rows() == len(expected)
    loaded = datasets.load_dataset("parquet", data_dir=str(folders["ray"]), split="train")
    assert loaded.num_rows == len(expected)
    assert sorted(json.dumps(r, sort_keys=True) for r in loaded) == sorted(
        json.dumps(r, sort_keys=True) for r in expected
    )


def test_ray_run_stopped_mid_compose_leaves_no_part_folder(cluster, shards_input, tmp_path, monkeypatch):
    """Ctrl-C once Ray tasks have written part files: the tasks are cancelled, and neither the
    folder nor its temporary one is left."""
    from mosaicit.plan.config import MosaicConfig
    from mosaicit.run.api import augment_dataset
    from test_shards import Interrupting

    monkeypatch.setattr("mosaicit.run.augment.Progress", Interrupting)
    monkeypatch.setattr(Interrupting, "at", tmp_path, raising=False)
    Interrupting.seen = []
    with pytest.raises(KeyboardInterrupt):
        augment_dataset(
            str(shards_input), tmp_path / "out", MosaicConfig(max_length=MAX_LENGTH, epochs=EPOCHS, seed=3),
            use_cache=False, workers=2, executor="ray", shards=SHARDS, output_parts="jsonl",
        )  # fmt: skip
    assert Interrupting.seen
    assert list(tmp_path.iterdir()) == []


def _sharegpt(*turns):
    return {"conversations": [{"from": who, "value": text} for who, text in turns]}


def test_messy_sharegpt_files_give_the_local_bytes_rejects_and_repairs_on_ray(cluster, alpaca_eval, tmp_path):
    """Items the reading tasks normalise (repaired ones too) and items the driver decides
    (malformed, empty, a file in another shape) give the local run's bytes, rejects and repairs;
    with --on-bad-record error, the same one line naming the file and record."""
    pairs = [(r["instruction"], r["output"]) for r in alpaca_eval[:60]]
    first = [_sharegpt(("human", q), ("gpt", a)) for q, a in pairs[:30]]
    first[3] = _sharegpt(("gpt", "stray"), ("human", pairs[3][0]), ("gpt", pairs[3][1]))  # repaired
    first[7] = _sharegpt(("human", "\ud800"), ("gpt", "x"))  # malformed
    first[9] = {"conversations": []}  # empty
    second = [_sharegpt(("human", q), ("human", "and more"), ("gpt", a)) for q, a in pairs[30:50]]  # repaired
    other = [{"instruction": q, "output": a} for q, a in pairs[50:]]  # another shape than the input's
    folder = tmp_path / "in"
    folder.mkdir()
    for name, rows in (("a.jsonl", first), ("b.jsonl", second), ("c.jsonl", other)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = {ex: augment(folder, tmp_path / f"{ex}.jsonl", "--executor", ex) for ex in ("local", "ray")}
    assert out["ray"].read_bytes() and out["ray"].read_bytes() == out["local"].read_bytes()
    rejects = {ex: Path(f"{path}.rejects.jsonl").read_text(encoding="utf-8") for ex, path in out.items()}
    assert rejects["ray"] == rejects["local"] and "mixed shapes" in rejects["ray"]
    summaries = {ex: json.loads(Path(f"{path}.summary.json").read_text()) for ex, path in out.items()}
    for key in "repairs rejected_by_reason rejected_at_reading records_read accounting kinds".split():
        assert summaries["ray"][key] == summaries["local"][key], key
    assert summaries["ray"]["repairs"]
    strict = ("-q", "--on-bad-record", "error", "--executor")
    lines = {
        ex: error_line(invoke("augment", folder, "-o", tmp_path / f"e-{ex}.jsonl", *strict, ex)) for ex in out
    }
    assert lines["ray"] == lines["local"] and "a.jsonl" in lines["ray"]


def test_a_command_that_reads_here_gets_the_items_ray_tasks_read(cluster, shards_input, tmp_path):
    """The ray executor's read hook (Ray tasks fetch and parse each file, the items come back in
    reading order) gives convert the rows and rejects of a local read."""
    from mosaicit.run.convert import convert
    from mosaicit.run.spec import RunSpec

    found = {}
    for executor in ("local", "ray"):
        out = tmp_path / f"{executor}.jsonl"
        spec = RunSpec.of(str(shards_input), out, executor=executor, output_format="sharegpt")
        summary = convert(spec)
        assert summary.pop("output") == str(out)
        found[executor] = (summary, out.read_bytes())
    assert found["ray"][1] and found["ray"] == found["local"]
    assert found["ray"][0]["records_read"] == 240


def test_ray_tasks_read_a_large_file_in_pieces_with_the_bytes_of_a_local_run(
    cluster, shards_input, tmp_path, monkeypatch
):
    """Two JSONL files cut in pieces of 8 kB (a piece per task: counted, then read from its byte
    range where the task runs), a Parquet file whole: the rows, part files and rejects of a
    local run."""
    from mosaicit.io import filepieces

    monkeypatch.setattr(filepieces, "PIECE_BYTES", 8_000)
    files = [(str(p), p.name) for p in sorted(shards_input.rglob("*.jsonl"))]
    assert len(filepieces.cut(pafs.LocalFileSystem(), files)) > 6
    for extra in ((), ("--output-parts", "jsonl")):
        out = {
            ex: augment(
                shards_input,
                tmp_path / (f"{ex}-parts" if extra else f"{ex}.jsonl"),
                "--executor",
                ex,
                "--shards",
                SHARDS,
                *extra,
            )
            for ex in ("local", "ray")
        }
        written = {
            ex: b"".join(p.read_bytes() for p in sorted(o.iterdir())) if o.is_dir() else o.read_bytes()
            for ex, o in out.items()
        }
        assert written["ray"] and written["ray"] == written["local"]
        rejects = {ex: Path(f"{o}.rejects.jsonl").read_bytes() for ex, o in out.items()}
        assert rejects["ray"] == rejects["local"]


def test_a_local_instance_has_the_store_asked_for_and_one_spill_worker_of_each_kind(tmp_path):
    """A run that starts its own Ray instance gives it ``--ray-object-store-mb`` of store and one
    worker process to spill objects and one to restore them (Ray's default is four of each, each
    a process importing Ray, for one local disk); ending the run ends the instance."""
    import subprocess
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="mr", dir="/tmp"))  # Ray's socket paths must stay short
    script = (
        "from mosaicit.run.executors.ray import connect\n"
        "from mosaicit.exits import stop_running\n"
        "ray = connect(None, 1, 96)\n"
        "config = ray._private.worker._global_node._ray_params._system_config\n"
        "print(int(ray.cluster_resources()['object_store_memory']) >> 20, config['max_io_workers'])\n"
        "stop_running()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "TMPDIR": str(tmp)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["96", "1"]
        assert list(tmp.iterdir()) == []  # the session folder is gone with the instance
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
