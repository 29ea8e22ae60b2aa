"""Every seed of a run, derived from ``--seed`` in one place.

A run's randomness is a tree: the run seed gives each system-prompt group its seed, a group's
seed gives each epoch its generator, and each drawn style carries a detail seed for the
choices made once its records are known (a permutation, the masked items). Deriving them here,
and nowhere else, keeps "same seed, same bytes" checkable in one file.
"""

from __future__ import annotations

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
