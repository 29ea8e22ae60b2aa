"""A real object store: ``s3://`` inputs read from an S3-compatible server (moto, in server mode
on the loopback address), by Ray tasks and by the local and fork-worker executors, give the bytes
of the same files read from disk.

The server runs in this process for the module; the AWS variables point pyarrow's S3 client (the
driver's and the Ray workers') at it, with test credentials. Failures are one error line each:
a missing bucket, a denied read, and half-written objects (an upload never completed, a
compressed file cut short).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from ray_helpers import local_ray
from test_ray import SHARDS, augment, error_line, invoke, shards_input  # noqa: F401 (a fixture)

pytestmark = pytest.mark.heavy
ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow.fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

BUCKET = "mosaicit-data"


@pytest.fixture(scope="module")
def s3(shards_input):  # noqa: F811 (the fixture imported above)
    """An S3 server on 127.0.0.1 holding the files of ``shards_input`` under ``s3://BUCKET/input/``;
    yields its boto3 client. The AWS variables are set for the module (and its Ray workers)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(shards_input.rglob("*")):
        if path.is_file():
            key = "input/" + path.relative_to(shards_input).as_posix()
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    try:
        yield client
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def cluster(s3):
    """A local Ray instance whose workers run this checkout's code and reach the server."""
    with local_ray(
        **{name: os.environ[name] for name in os.environ if name.startswith("AWS_")}
    ) as ray_module:
        yield ray_module


def test_s3_input_gives_the_bytes_of_the_same_files_on_disk(cluster, shards_input, tmp_path):  # noqa: F811
    common = ("--executor", "ray", "--shards", SHARDS)
    from_s3 = augment(f"s3://{BUCKET}/input", tmp_path / "s3.jsonl", *common)
    from_disk = augment(shards_input, tmp_path / "disk.jsonl", *common)
    local = augment(shards_input, tmp_path / "local.jsonl", "--executor", "local", "--shards", SHARDS)
    assert from_s3.read_bytes() and from_s3.read_bytes() == from_disk.read_bytes() == local.read_bytes()
    rejects = [json.loads(line) for line in Path(f"{from_s3}.rejects.jsonl").read_text().splitlines()]
    on_disk = [json.loads(line) for line in Path(f"{local}.rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 3 and [r.pop("file") for r in rejects] == [
        f"s3://{BUCKET}/input/{Path(r.pop('file')).relative_to(shards_input).as_posix()}" for r in on_disk
    ]
    assert rejects == on_disk  # the same stable keys, rows and reasons


@pytest.mark.parametrize("executor", ["local", "workers"])
def test_s3_input_without_ray_gives_the_bytes_of_the_same_files_on_disk(s3, shards_input, tmp_path, executor):  # noqa: F811
    """The local and fork-worker executors fetch the objects themselves (no Ray started)."""
    common = ("--executor", executor, "--shards", SHARDS)
    from_s3 = augment(f"s3://{BUCKET}/input", tmp_path / "s3.jsonl", *common)
    from_disk = augment(shards_input, tmp_path / "disk.jsonl", *common)
    assert from_s3.read_bytes() and from_s3.read_bytes() == from_disk.read_bytes()
    summary = json.loads(Path(f"{from_s3}.summary.json").read_text())
    assert summary["records_read"] == 240 and summary["executor"] == executor


def test_s3_files_and_a_single_object_list_as_on_disk(cluster, s3):
    from mosaicit.io.remote import list_inputs

    fs, files, names = list_inputs([f"s3://{BUCKET}/input"])
    assert fs.type_name == "s3"
    assert [name for _, name in files] == [
        f"s3://{BUCKET}/input/{n}" for n in ("a.jsonl", "b.parquet", "more/c.jsonl", "more/d.parquet")
    ]
    assert names[f"s3://{BUCKET}/input/more/c.jsonl"] == "more/c.jsonl"
    _, one, _ = list_inputs([f"s3://{BUCKET}/input/a.jsonl"])
    assert one == [(f"{BUCKET}/input/a.jsonl", f"s3://{BUCKET}/input/a.jsonl")]


def test_missing_bucket_one_error_line(cluster, tmp_path):
    out = tmp_path / "out.jsonl"
    line = error_line(invoke("augment", "s3://no-such-bucket/input", "-o", out, "--executor", "ray", "-q"))
    assert line == "mosaicit: error: s3://no-such-bucket/input: no such bucket (no-such-bucket)"
    assert list(tmp_path.iterdir()) == []


def test_denied_read_one_error_line(cluster, s3, tmp_path, monkeypatch):
    """Credentials the server does not know, with its authorization on: access denied."""
    import requests

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTKNOWNHERE0000")
    out = tmp_path / "out.jsonl"
    try:
        line = error_line(invoke("augment", f"s3://{BUCKET}/input", "-o", out, "--executor", "ray", "-q"))
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert line.startswith(f"mosaicit: error: s3://{BUCKET}/input: cannot read: ")
    assert "ACCESS_DENIED" in line
    assert list(tmp_path.iterdir()) == []


def test_upload_never_completed_is_no_such_file(cluster, s3, tmp_path):
    """A multipart upload that was started and never completed is not an object yet."""
    key = "half/e.jsonl"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b'{"instruction"')
    out = tmp_path / "out.jsonl"
    uri = f"s3://{BUCKET}/{key}"
    line = error_line(invoke("augment", uri, "-o", out, "--executor", "ray", "-q"))
    assert line == f"mosaicit: error: {uri}: no such file or folder"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_object_cut_short_names_the_file(request, s3, shards_input, tmp_path, executor):  # noqa: F811
    """A compressed object whose upload was cut short: one line naming that object, read by Ray's
    tasks or by the one process."""
    if executor == "ray":
        request.getfixturevalue("cluster")
    whole = gzip.compress((shards_input / "a.jsonl").read_bytes())
    prefix = f"cut-{executor}"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/a.jsonl", Body=(shards_input / "a.jsonl").read_bytes())
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/b.jsonl.gz", Body=whole[: len(whole) // 2])
    out = tmp_path / "out.jsonl"
    line = error_line(invoke("augment", f"s3://{BUCKET}/{prefix}", "-o", out, "--executor", executor, "-q"))
    assert line == (
        f"mosaicit: error: s3://{BUCKET}/{prefix}/b.jsonl.gz: cannot read: "
        "Compressed file ended before the end-of-stream marker was reached"
    )
    assert list(tmp_path.iterdir()) == []
