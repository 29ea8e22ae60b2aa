"""Parquet in and out with pyarrow (the optional ``parquet`` extra), by record batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from mosaicit.errors import InputError, MosaicitError
from mosaicit.extras import require
from mosaicit.io.atomic import atomic_open
from mosaicit.io.schema import META
from mosaicit.io.shapes import columns

BATCH_ROWS = 1024
#: The range of a Parquet (64-bit) integer column.
INT64 = range(-(1 << 63), 1 << 63)


def require_pyarrow() -> Any:
    """The pyarrow module, or a clear error saying how to install it."""
    require("pyarrow.parquet")
    return require("pyarrow")


def iter_parquet(path: str | Path, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, row dict)`` from a Parquet file, one record batch at a time."""
    require_pyarrow()
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(str(path))
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError variants
        raise InputError(str(path), f"not a readable Parquet file: {str(exc)[:200]}") from None
    index = 0
    with reader:
        for batch in reader.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                yield index, row
                index += 1


def shape_schema(shape: str, id_type: Any = None, with_meta: bool = True) -> Any:
    """The Parquet schema of an output shape (:func:`mosaicit.io.shapes.columns`): every column
    nullable, ``mosaic`` as JSON text, ``id`` of ``id_type`` (text when not known), a column of a
    shape that is not one of mosaicit's as text."""
    pa = require_pyarrow()
    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    types: dict[str, Any] = {
        "id": id_type if id_type is not None else pa.string(),
        "instruction": pa.string(),
        "input": pa.string(),
        "output": pa.string(),
        "system": pa.string(),
        "history": pa.list_(pa.list_(pa.string())),
        "count": pa.int64(),
        "conversations": pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())])),
        "messages": message,
        "prompt": message,
        "completion": message,
        META: pa.string(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in columns(shape, with_meta)])


def write_parquet(
    path: str | Path, rows: Iterable[dict[str, Any]], shape: str, batch_rows: int = BATCH_ROWS
) -> int:
    """Write rows of one output ``shape`` atomically as Parquet, in batches; returns the row count.

    Rows have the columns of the shape (:func:`mosaicit.io.schema.conform`); an ``id`` column
    takes its type from the first batch that holds an id (text until then).
    """
    require_pyarrow()
    with atomic_open(path, "wb") as out:
        return write_parquet_to(out, rows, shape, batch_rows)


def write_parquet_to(
    out: IO[bytes],
    rows: Iterable[dict[str, Any]],
    shape: str,
    batch_rows: int = BATCH_ROWS,
    id_type: Any = None,
) -> int:
    """Write rows as Parquet to an open binary handle (see :func:`write_parquet`; ``id_type``: the
    ``id`` column's Arrow type, instead of the first batch's); returns the row count."""
    require_pyarrow()
    import pyarrow.parquet as pq

    n = 0
    writer = None
    try:
        for table in tables(rows, shape, batch_rows, id_type):
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
            n += table.num_rows
        if writer is None:
            writer = pq.ParquetWriter(out, shape_schema(shape, id_type))
    finally:
        if writer is not None:
            writer.close()
    return n


def write_parquet_part(
    path: str, rows: Iterable[dict[str, Any]], shape: str, id_type: Any
) -> tuple[int, Any]:
    """Write rows as one Parquet part file at ``path`` (not atomically: a folder of parts is committed
    whole), its ``id`` column of ``id_type`` (the first batch's when None); returns the row count and
    the ``id`` column's type, which the next parts take."""
    with open(path, "wb") as out:
        n = write_parquet_to(out, rows, shape, id_type=id_type)
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    return n, schema.field("id").type if "id" in schema.names else None


def tables(
    rows: Iterable[dict[str, Any]], shape: str, batch_rows: int = BATCH_ROWS, id_type: Any = None
) -> Iterator[Any]:
    """Rows of one output ``shape`` as Arrow tables of ``batch_rows`` rows, all with the schema
    that :func:`write_parquet_to` writes (the ``id`` type of the first batch unless ``id_type``)."""
    pa = require_pyarrow()
    schema = None
    n = 0
    for batch in _batches(rows, batch_rows):
        if schema is None:
            if id_type is None:
                id_type = _first_id_type(pa, batch)
            schema = shape_schema(shape, id_type, META in batch[0])
        _check_ids(pa, batch, schema.field("id").type if "id" in schema.names else None, n)
        yield _table(pa, batch, schema, n)
        n += len(batch)


def rows_table(rows: Iterable[dict[str, Any]], shape: str, with_meta: bool = True) -> Any:
    """Rows of one output ``shape`` as one Arrow table, typed as :func:`write_parquet` writes them."""
    pa = require_pyarrow()
    batches = list(tables(rows, shape))
    return pa.concat_tables(batches) if batches else shape_schema(shape, None, with_meta).empty_table()


def _first_id_type(pa: Any, batch: list[dict[str, Any]]) -> Any:
    """The Arrow type of the first batch's ids (None when it holds none)."""
    first = next((r["id"] for r in batch if r.get("id") is not None), None)
    if first is None:
        return None
    if isinstance(first, int) and not isinstance(first, bool):
        return pa.int64()
    try:
        return pa.array([first]).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise MosaicitError(f"Parquet output: row 0: id {first!r} has no Parquet type: {exc}") from None


def _check_ids(pa: Any, batch: list[dict[str, Any]], id_type: Any, start: int) -> None:
    """One clear error for the first id that the ``id`` column (of ``id_type``) cannot hold
    exactly: an id of another kind than the column's, or an integer beyond 64 bits."""
    if id_type is None:
        return
    fits = {
        "bool": pa.types.is_boolean,
        "int": pa.types.is_integer,
        "str": pa.types.is_string,
        "float": pa.types.is_floating,
    }
    for offset, row in enumerate(batch):
        value = row.get("id")
        if value is None:
            continue
        kind = type(value).__name__
        if kind in fits and not fits[kind](id_type):
            why = f"({kind}) does not match the id column ({id_type}): a Parquet column holds one type"
        elif kind == "int" and value not in INT64:
            why = "does not fit the id column (int64)"
        else:
            continue
        raise MosaicitError(
            f"Parquet output: row {start + offset}: id {value!r} {why}; write JSON or JSONL to keep it"
        )


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _table(pa: Any, batch: list[dict[str, Any]], schema: Any, start: int) -> Any:
    names = set(schema.names)
    for offset, row in enumerate(batch):
        extra = set(row) - names
        if extra:
            raise MosaicitError(
                f"Parquet output: row {start + offset} has columns {sorted(extra)} that the first rows lack"
            )
    try:
        return pa.Table.from_pylist(batch, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise MosaicitError(f"Parquet output: rows {start}-{start + len(batch) - 1}: {exc}") from None
