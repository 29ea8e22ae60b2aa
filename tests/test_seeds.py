"""plan/seeds.py: every seed of a run derives from the run seed here, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

from mosaicit.plan.seeds import (
    EPOCH_SEED_STEP,
    GROUP_SEED_STEP,
    detail_rng,
    draw_detail_seed,
    epoch_rng,
    group_seed,
    unseeded_rng,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "mosaicit"


def test_group_and_epoch_seeds_are_fixed_offsets():
    assert (group_seed(42, 0), group_seed(42, 2)) == (42, 42 + 2 * GROUP_SEED_STEP)
    assert epoch_rng(5, 3).random() == epoch_rng(5 + 3 * EPOCH_SEED_STEP, 0).random()
    assert epoch_rng(5, 0).random() != epoch_rng(5, 1).random()


def test_a_detail_seed_replays_its_generator():
    seed = draw_detail_seed(epoch_rng(42, 0))
    assert seed == draw_detail_seed(epoch_rng(42, 0)) and 0 <= seed < 2**64
    assert [detail_rng(seed).random() for _ in range(2)] == [detail_rng(seed).random()] * 2


def test_unseeded_generators_differ():
    assert unseeded_rng().getrandbits(64) != unseeded_rng().getrandbits(64)


def test_no_other_module_makes_a_generator():
    pattern = re.compile(r"random\.Random\(|\bRandom\(|getrandbits|random\.seed\(")
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 30
    makers = {p.relative_to(SRC).as_posix() for p in modules if pattern.search(p.read_text(encoding="utf-8"))}
    assert makers == {"plan/seeds.py"}
