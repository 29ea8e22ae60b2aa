"""Part files written to an object store (``--output-parts ... -o s3://bucket/prefix/``), on the S3
server of :mod:`test_ray_s3` (moto on the loopback address): each part written where its unit is
composed (this process, a fork worker, a Ray task) equals the local run's byte for byte; the
summary and rejects go beside the prefix; a failed run leaves nothing at the target; an object
mosaicit did not write under the prefix is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mosaicit.io.store import marker_text
from test_ray import SHARDS, augment, error_line, invoke, shards_input  # noqa: F401 (a fixture)
from test_ray_s3 import BUCKET, cluster, s3  # noqa: F401 (fixtures)

pytestmark = pytest.mark.heavy


def objects(client, prefix: str) -> dict[str, bytes]:
    """Every object whose key starts with ``prefix``: its key below ``prefix``, its bytes."""
    found = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"][len(prefix) :]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in found
    }


@pytest.fixture(scope="module")
def local_parts(shards_input, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    """The local --output-parts runs (JSONL and Parquet) that the object-store runs must equal."""
    out = tmp_path_factory.mktemp("local-parts")
    return {
        kind: augment(
            shards_input, out / kind, "--executor", "local", "--shards", SHARDS, "--output-parts", kind
        )
        for kind in ("jsonl", "parquet")
    }


def same_as_local(s3, prefix: str, folder: Path) -> None:  # noqa: F811
    """The objects under ``prefix`` (and beside it) are the local folder's files, byte for byte;
    the rejects beside it name the same records (by stable key: an ``s3://`` input names its
    files by URI)."""
    stored = objects(s3, f"{prefix}/")
    assert stored and stored == {p.name: p.read_bytes() for p in folder.iterdir()}
    beside = objects(s3, prefix)
    rejects = [json.loads(line)["key"] for line in beside[".rejects.jsonl"].splitlines()]
    on_disk = Path(f"{folder}.rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 3 and rejects == [json.loads(line)["key"] for line in on_disk]
    assert b'"output_parts"' in beside[".summary.json"]
    marker = json.loads(objects(s3, f".{prefix}.mosaicit-parts.json")[""])
    assert marker == {"written_by": "mosaicit", "files": sorted(stored)}
    leftovers = [key for key in objects(s3, "") if key.endswith(".part") or ".part/" in key]
    assert leftovers == []  # no temporary prefix or probe left


@pytest.mark.parametrize("executor", ["local", "workers"])
@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_parts_in_s3_equal_a_local_run(s3, shards_input, local_parts, executor, kind):  # noqa: F811
    prefix = f"out-{executor}-{kind}"
    uri = f"s3://{BUCKET}/{prefix}/"
    common = ("--executor", executor, "--shards", SHARDS, "--output-parts", kind)
    augment(shards_input, uri, *common)  # type: ignore[arg-type]
    same_as_local(s3, prefix, local_parts[kind])
    rejects = Path(f"{local_parts[kind]}.rejects.jsonl").read_bytes()
    assert objects(s3, f"{prefix}.rejects.jsonl") == {"": rejects}  # the same files read: the same bytes


def test_ray_tasks_write_parts_to_s3_equal_to_a_local_run(cluster, s3, shards_input, local_parts):  # noqa: F811
    prefix = "out-ray"
    common = ("--executor", "ray", "--shards", SHARDS, "--output-parts", "jsonl")
    augment(f"s3://{BUCKET}/input", f"s3://{BUCKET}/{prefix}", *common)  # type: ignore[arg-type]
    same_as_local(s3, prefix, local_parts["jsonl"])


def test_a_second_run_replaces_the_parts_of_the_first(s3, shards_input):  # noqa: F811
    uri = f"s3://{BUCKET}/again/"
    augment(shards_input, uri, "--shards", 3, "--output-parts", "jsonl")  # type: ignore[arg-type]
    first = objects(s3, "again/")
    augment(shards_input, uri, "--shards", 2, "--output-parts", "jsonl")  # type: ignore[arg-type]
    second = objects(s3, "again/")
    assert second.pop("", b"") == b""  # pyarrow keeps a folder emptied by a delete as an empty object
    assert sorted(first) == [f"part-g00000-e{e:05d}-s{s:05d}.jsonl" for e in range(2) for s in range(3)]
    assert sorted(second) == [f"part-g00000-e{e:05d}-s{s:05d}.jsonl" for e in range(2) for s in range(2)]


@pytest.mark.parametrize("previous", [False, True])
def test_a_failed_run_leaves_nothing_at_the_target(s3, shards_input, monkeypatch, previous):  # noqa: F811
    """The third part's upload fails, after two were written: one error line; no part, no
    summary, no rejects, no marker and no temporary object is left, and a previous run's
    objects are as they were."""
    from mosaicit.io import parts

    name = f"failed-{previous}"
    if previous:
        augment(shards_input, f"s3://{BUCKET}/{name}/", "--shards", 2, "--output-parts", "jsonl")  # type: ignore[arg-type]
    before = objects(s3, name), objects(s3, f".{name}")
    assert bool(before[0]) == bool(before[1]) == previous
    uploads = []

    def failing(local: str, uri: str) -> None:
        uploads.append(uri)
        if len(uploads) == 3:
            raise OSError("SlowDown: the server is busy")
        real(local, uri)

    real = parts.upload
    monkeypatch.setattr(parts, "upload", failing)
    result = invoke(
        "augment", shards_input, "-o", f"s3://{BUCKET}/{name}/", "-q", "--shards", SHARDS,
        "--output-parts", "jsonl", "--executor", "local",
    )  # fmt: skip
    line = error_line(result)
    assert line.startswith(f"mosaicit: error: s3://{BUCKET}/.{name}.mosaicit-{os.getpid()}-")
    assert line.endswith(": cannot write: SlowDown: the server is busy")
    assert len(uploads) == 3
    assert (objects(s3, name), objects(s3, f".{name}")) == before


def test_a_foreign_object_under_the_prefix_is_refused(s3, shards_input):  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="theirs/data.csv", Body=b"a,b\n")
    result = invoke("augment", shards_input, "-o", f"s3://{BUCKET}/theirs/", "-q", "--output-parts", "jsonl")
    assert error_line(result) == (
        f"mosaicit: error: s3://{BUCKET}/theirs/: --output-parts replaces this folder, but it holds "
        "files that mosaicit did not write there (data.csv); give a new or empty folder"
    )
    assert objects(s3, "theirs") == {"/data.csv": b"a,b\n"}


def test_missing_bucket_and_denied_write_are_one_line(s3, shards_input, monkeypatch):  # noqa: F811
    line = error_line(invoke("augment", shards_input, "-o", "s3://no-bucket/out/", "--output-parts", "jsonl"))
    assert line == "mosaicit: error: s3://no-bucket/out/: no such bucket (no-bucket)"
    line = error_line(invoke("augment", shards_input, "-o", f"s3://{BUCKET}/", "--output-parts", "jsonl"))
    assert (
        line
        == f"mosaicit: error: s3://{BUCKET}/: --output-parts needs a folder (a prefix) in the bucket, not the bucket"
    )
    report = invoke("augment", shards_input, "-o", f"s3://{BUCKET}/r.jsonl", "--report", "r.html")
    assert report.exit_code == 2 and "--report needs a local output file" in report.output
    info = invoke(
        "augment", shards_input, "-o", f"s3://{BUCKET}/o/", "--output-parts", "jsonl", "--emit-dataset-info"
    )
    assert error_line(info).endswith("written beside a local output, not in an object store")
    import requests

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTKNOWNHERE0000")
    try:
        line = error_line(
            invoke("augment", shards_input, "-o", f"s3://{BUCKET}/denied/", "--output-parts", "jsonl")
        )
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert line.startswith(f"mosaicit: error: s3://{BUCKET}/denied/: cannot write: ")
    assert "ACCESS_DENIED" in line


def test_a_dry_run_writes_nothing_in_the_bucket(s3, shards_input, caplog):  # noqa: F811
    """A dry run checks the target by reading only: the server sees no PUT or DELETE, and a
    versioned bucket, which keeps every object ever put (and a marker for each one removed), is
    as it was."""
    s3.create_bucket(Bucket="dry")
    s3.put_bucket_versioning(Bucket="dry", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="dry", Key="out/part-0-passthrough.jsonl", Body=b"{}\n")
    marker = marker_text(["part-0-passthrough.jsonl"]).encode()  # a previous run's
    s3.put_object(Bucket="dry", Key=".out.mosaicit-parts.json", Body=marker)

    def stored() -> tuple[list, list, list]:
        versions = s3.list_object_versions(Bucket="dry")
        listed = s3.list_objects_v2(Bucket="dry").get("Contents", [])
        return (
            [(o["Key"], o["ETag"], o["LastModified"]) for o in listed],
            [(v["Key"], v["VersionId"]) for v in versions.get("Versions", [])],
            versions.get("DeleteMarkers", []),
        )

    before = stored()
    caplog.clear()
    result = invoke(
        "augment", shards_input, "-o", "s3://dry/out/", "--output-parts", "jsonl", "--dry-run", "-q"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dry run: nothing written")
    requests = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /dry' in r for r in requests)  # the server's requests are seen here
    assert not [r for r in requests if '"PUT ' in r or '"POST ' in r or '"DELETE ' in r]
    assert stored() == before and len(before[1]) == 2 and before[2] == []
    s3.put_object(Bucket="dry", Key="out/theirs.csv", Body=b"a,b\n")  # the read-only checks still run
    refused = error_line(
        invoke("augment", shards_input, "-o", "s3://dry/out/", "--output-parts", "jsonl", "--dry-run")
    )
    assert refused.endswith(
        "files that mosaicit did not write there (theirs.csv); give a new or empty folder"
    )


def test_one_output_file_in_s3_is_the_local_file(s3, shards_input, tmp_path):  # noqa: F811
    """Without --output-parts, the one output file and its side files are uploaded at the end."""
    local = augment(shards_input, tmp_path / "one.jsonl", "--shards", SHARDS)
    augment(shards_input, f"s3://{BUCKET}/one/out.jsonl", "--shards", SHARDS)  # type: ignore[arg-type]
    stored = objects(s3, "one/")
    assert stored.keys() == {"out.jsonl", "out.jsonl.summary.json", "out.jsonl.rejects.jsonl"}
    assert stored["out.jsonl"] == local.read_bytes() and stored["out.jsonl"]
    assert stored["out.jsonl.rejects.jsonl"] == Path(f"{local}.rejects.jsonl").read_bytes()
