"""Token counts kept on disk between runs, keyed by the tokenizer and each text's hash.

A rerun on the same data and tokenizer (another seed, wrap mode or budget) reads the counts
instead of tokenizing again. The cache is a speed-up, not a source of truth, and it never
changes results:

* every key and checksum is keyed by the tokenizer's fingerprint *and* a per-user secret
  (:func:`user_secret`) kept outside the cache directory, readable only by its owner: whoever
  can write the cache file but not read that secret cannot forge an entry, and a corrupted,
  edited or foreign entry is detected, ignored and recounted;
* a few cached counts the run uses are checked against the tokenizer (see
  :meth:`mosaicit.run.executors.base.Executor.count`): a cache that disagrees is discarded, with one
  warning, and the run counts for real. This catches a cache forged by someone who holds the
  secret (the user, or anyone who can read the user's files), unless only a few entries were
  changed and none of them was drawn;
* a cache file that cannot be read is replaced, and without a usable secret no cache is used;
* the cache writes only in a folder that no other user can write (:func:`private_folder`: the
  cache folder itself, or else this user's own folder inside it), and only into a regular file of
  this user's that is not a link (it creates the file itself, ``O_EXCL | O_NOFOLLOW``): in a
  shared cache folder, a link or a file that another user planted is never written through.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

QUERY_CHUNK = 500
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (key BLOB PRIMARY KEY, n INTEGER NOT NULL, checksum INTEGER NOT NULL)
    WITHOUT ROWID;
"""


def _cache_home() -> Path:
    """The user's cache home: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_cache_dir() -> Path:
    """``$MOSAICIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/mosaicit``, else ``~/.cache/mosaicit``."""
    if os.environ.get("MOSAICIT_CACHE_DIR"):
        return Path(os.environ["MOSAICIT_CACHE_DIR"])
    return _cache_home() / "mosaicit"


#: Bytes of the per-user secret.
SECRET_BYTES = 32


def secret_path() -> Path:
    """Where the per-user secret lives: ``$XDG_CACHE_HOME/mosaicit.key``, else
    ``~/.cache/mosaicit.key`` (beside the default cache directory, not in it)."""
    return _cache_home() / "mosaicit.key"


def _read_secret(path: Path) -> bytes | None:
    """The secret in ``path``, or None unless it is a regular file of the right size that
    this user owns and nobody else can read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        data = os.read(fd, SECRET_BYTES + 1)
    finally:
        os.close(fd)
    private = stat.S_ISREG(info.st_mode) and not info.st_mode & 0o077
    if private and info.st_uid == os.getuid() and len(data) == SECRET_BYTES:
        return data
    return None


def user_secret(path: Path | None = None) -> bytes | None:
    """The per-user secret that keys the cache (created, mode 0600, on first use), or None
    when there is no usable one (then no cache is used)."""
    path = path or secret_path()
    found = _read_secret(path)
    if found is not None or path.exists():
        return found
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # whole or not at all; a concurrent run's secret wins
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            os.replace(temp, path)
        temp.unlink(missing_ok=True)
    except OSError:
        return None
    return _read_secret(path)


class Unsafe(Exception):
    """The cache would write where another user could have planted something: say why, use no cache."""


def _own_folder(path: Path) -> bool:
    """True for a folder (not a link) of this user's that no one else can write."""
    info = os.lstat(path)
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def private_folder(directory: Path) -> Path:
    """Where the cache files go: ``directory`` when only this user can write it, else its
    subfolder ``user-<uid>`` (created, mode 0700); :class:`Unsafe` when that is not this user's
    own private folder."""
    directory.mkdir(parents=True, exist_ok=True)
    if _own_folder(directory.resolve()):
        return directory
    own = directory / f"user-{os.getuid()}"
    try:
        own.mkdir(mode=0o700)
    except FileExistsError:
        pass
    if not _own_folder(own):
        raise Unsafe(f"{own} is not a private folder of yours (mode 0700, not a link)")
    return own


def _own_file(path: Path) -> None:
    """Create ``path`` (mode 0600) unless it exists; :class:`Unsafe` unless it is then a regular
    file of this user's (not a link)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        what = "a link" if stat.S_ISLNK(info.st_mode) else "not a regular file of yours"
        raise Unsafe(f"{path} is {what}")


class CountCache:
    """Plain token counts of texts for one tokenizer, in a SQLite file under ``directory``,
    keyed by ``secret`` (default: :func:`user_secret`)."""

    def __init__(self, directory: str | Path, fingerprint: str, secret: bytes | None = None) -> None:
        self.fingerprint = fingerprint
        self.path = Path(directory) / f"counts-{fingerprint[:24]}.sqlite3"
        self.hits = self.misses = self.ignored = 0
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None
        secret = secret or user_secret()
        if secret is None:
            print(
                f"mosaicit: warning: no usable private key {secret_path()} (a 32-byte file of yours,"
                " mode 0600); not using the count cache",
                file=sys.stderr,
            )
            self.salt = b""
            return
        self.salt = hashlib.blake2b(fingerprint.encode("ascii"), digest_size=32, key=secret).digest()
        try:
            self.path = private_folder(Path(directory)) / self.path.name
        except (OSError, Unsafe) as exc:
            why = f"{exc.strerror}: {directory}" if isinstance(exc, OSError) else exc
            print(f"mosaicit: warning: {why}; not using the count cache", file=sys.stderr)
            return
        try:
            self._db = self._open()
        except Unsafe as exc:
            print(f"mosaicit: warning: {exc}; not using the count cache", file=sys.stderr)
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
        _own_file(self.path)
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

    def _replace(self, warning: str = "") -> sqlite3.Connection | None:
        warning = warning or f"ignoring unreadable count cache {self.path}"
        print(f"mosaicit: warning: {warning}", file=sys.stderr)
        try:
            if self._db is not None:
                self._db.close()
            self.path.unlink(missing_ok=True)
            return self._open()
        except (sqlite3.DatabaseError, OSError, Unsafe):
            return None

    def discard(self, why: str) -> None:
        """Replace the cache file with an empty one, with one warning line saying ``why``."""
        self._db = self._replace(f"count cache {self.path} {why}; discarded it, counting for real")

    def keys(self, texts: Sequence[str]) -> list[bytes]:
        """The cache key of each text: a hash keyed by the tokenizer's fingerprint and the
        user's secret."""
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
