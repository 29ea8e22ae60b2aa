"""Every seed of a run, derived from ``--seed`` in one place.

A run's randomness is a tree: the run seed gives each system-prompt group its seed, a group's
seed gives each epoch its generator, and each drawn style carries a detail seed for the
choices made once its records are known (a permutation, the masked items). With ``--shards``,
each epoch's records are dealt to shards by a hash of the run seed, the epoch and their stable
keys (whatever group a record joins, and whatever number that group gets), and each shard of a
group has its own seed (:func:`shard_of`, :func:`shard_seed`). Deriving them here,
and nowhere else, keeps "same seed, same bytes" checkable in one file.
"""

from __future__ import annotations

import hashlib
import os
import random

#: Offset between the seeds of system-prompt groups (the first group uses the run seed itself).
GROUP_SEED_STEP = 7_919
#: Offset between the seeds of epochs (the first epoch uses the group seed itself).
EPOCH_SEED_STEP = 1_000_003


def group_seed(seed: int, group: int) -> int:
    """The seed of system-prompt group ``group`` (0-based) of a run seeded with ``seed``."""
    return seed + GROUP_SEED_STEP * group


def epoch_rng(seed: int, epoch: int) -> random.Random:
    """The generator of one epoch: its shuffle, then each group's size and style draws."""
    return random.Random(seed + EPOCH_SEED_STEP * epoch)


def draw_detail_seed(rng: random.Random) -> int:
    """A style's detail seed, drawn from the epoch's generator."""
    return rng.getrandbits(64)


def detail_rng(detail_seed: int) -> random.Random:
    """The generator for a plan's details (a permutation, the masked items) from its style."""
    return random.Random(detail_seed)


def unseeded_rng() -> random.Random:
    """A generator no seed can predict, for checks that must not be foreseen (cache spot checks)."""
    return random.Random(os.urandom(16))


def _hash64(*parts: object) -> int:
    """A 64-bit number from ``parts``, the same on every machine and Python (blake2b, not ``hash``)."""
    text = "\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def shard_of(seed: int, epoch: int, key: str, shards: int) -> int:
    """The shard (0-based) that the record with stable ``key`` joins in ``epoch`` of a run seeded
    with ``seed``: a seeded hash, so partners change from epoch to epoch. It depends on nothing
    else: not on the record's group or that group's number, so a file's records can be dealt
    where the file is read, before the groups of the files before it are known."""
    return 0 if shards == 1 else _hash64("shard", seed, epoch, key) % shards


def shard_seed(seed: int, shard: int, shards: int) -> int:
    """The seed that composes ``shard`` of a group seeded with ``seed``; one shard keeps ``seed``
    itself (so ``--shards 1`` gives the bytes of an unsharded run)."""
    return seed if shards == 1 else _hash64("shard-seed", seed, shard, shards)
