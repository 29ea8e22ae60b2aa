"""Token counts kept on disk between runs, keyed by the tokenizer and each text's hash.

A rerun on the same data and tokenizer (another seed, wrap mode or budget) reads the counts
instead of tokenizing again. The cache never changes results: every entry carries a checksum
keyed by the tokenizer's fingerprint, so a corrupted, edited or foreign entry is detected,
ignored and recounted; a cache file that cannot be read is replaced.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

QUERY_CHUNK = 500
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (key BLOB PRIMARY KEY, n INTEGER NOT NULL, checksum INTEGER NOT NULL)
    WITHOUT ROWID;
"""


def default_cache_dir() -> Path:
    """``$MOSAICIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/mosaicit``, else ``~/.cache/mosaicit``."""
    if os.environ.get("MOSAICIT_CACHE_DIR"):
        return Path(os.environ["MOSAICIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mosaicit"


class CountCache:
    """Plain token counts of texts for one tokenizer, in a SQLite file under ``directory``."""

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.salt = hashlib.sha256(fingerprint.encode("ascii")).digest()
        self.path = Path(directory) / f"counts-{fingerprint[:24]}.sqlite3"
        self.hits = self.misses = self.ignored = 0
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except (sqlite3.DatabaseError, OSError):
            self._db = self._replace()

    def _connection(self) -> sqlite3.Connection | None:
        """This process's connection: a forked worker opens its own (a connection must not
        cross a fork)."""
        if self._pid != os.getpid() and self._db is not None:
            self._pid = os.getpid()
            self._db = sqlite3.connect(self.path, timeout=30)
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.executescript(SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (self.fingerprint,))
            db.commit()
        elif row[0] != self.fingerprint:
            db.close()
            raise sqlite3.DatabaseError("cache file of another tokenizer")
        return db

    def _replace(self) -> sqlite3.Connection | None:
        print(f"mosaicit: warning: ignoring unreadable count cache {self.path}", file=sys.stderr)
        try:
            self.path.unlink(missing_ok=True)
            return self._open()
        except (sqlite3.DatabaseError, OSError):
            return None

    def keys(self, texts: Sequence[str]) -> list[bytes]:
        """The cache key of each text: a hash keyed by the tokenizer's fingerprint."""
        salt = self.salt
        return [
            hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16, key=salt).digest()
            for t in texts
        ]

    def _checksum(self, key: bytes, n: int) -> int:
        digest = hashlib.blake2b(key + n.to_bytes(8, "little", signed=True), digest_size=8, key=self.salt)
        return int.from_bytes(digest.digest(), "little", signed=True)

    def get(self, keys: Sequence[bytes]) -> list[int | None]:
        """The stored count for each key, or None where absent or not trustworthy."""
        found: dict[bytes, int] = {}
        db = self._connection()
        if db is not None:
            try:
                for start in range(0, len(keys), QUERY_CHUNK):
                    chunk = keys[start : start + QUERY_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    sql = f"SELECT key, n, checksum FROM counts WHERE key IN ({marks})"
                    for key, n, checksum in db.execute(sql, chunk):
                        if isinstance(n, int) and n >= 0 and checksum == self._checksum(key, n):
                            found[key] = n
                        else:
                            self.ignored += 1
            except sqlite3.DatabaseError:
                self._db = self._replace()
                found = {}
        out = [found.get(k) for k in keys]
        hits = sum(n is not None for n in out)
        self.hits += hits
        self.misses += len(out) - hits
        return out

    def put(self, keys: Sequence[bytes], counts: Sequence[int]) -> None:
        """Store counts for keys (replacing any stored entry)."""
        db = self._connection()
        if db is None or not keys:
            return
        rows = [(k, n, self._checksum(k, n)) for k, n in zip(keys, counts, strict=True)]
        try:
            db.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?, ?)", rows)
            db.commit()
        except sqlite3.DatabaseError:
            self._db = None

    def tally(self) -> tuple[int, int, int]:
        """Hits, misses and ignored entries so far."""
        return self.hits, self.misses, self.ignored

    def add_tally(self, tally: Sequence[int]) -> None:
        """Add hits, misses and ignored entries counted by another process."""
        self.hits += tally[0]
        self.misses += tally[1]
        self.ignored += tally[2]

    def stats(self) -> dict[str, object]:
        """Hits, misses and ignored entries so far, and the file used."""
        return {"path": str(self.path), "hits": self.hits, "misses": self.misses, "ignored": self.ignored}

    def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            self._db.close()
            self._db = None
