"""The options of a mosaicking run, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass

from mosaicit.errors import ParamError
from mosaicit.plan.strategies import BROKEN, STRATEGIES, STRATEGY_NAMES, option_rules

WRAP_MODES = ("uniform", "fix_max", "max_length", "exp", "pareto", "lognormal", "logistic2")
#: The names of the mixes (``version``, ``--mix``), in the order ``--help`` lists them.
MIXES = ("format", "order", "mask", "both", "primary", "rules")
#: Each mix's strategy weights: weight 1 for every strategy that declares the mix (``Strategy.mixes``).
VERSIONS: dict[str, dict[str, float]] = {
    mix: {name: 1 for name, strategy in STRATEGIES.items() if mix in strategy.mixes} for mix in MIXES
}


#: The largest strategy weight (weights are relative; their sum must stay a finite number).
MAX_WEIGHT = 1e9


def check_count(name: str, value: int, most: int) -> None:
    """A clear error naming parameter ``name`` unless ``value`` is from 1 to ``most``."""
    if value < 1:
        raise ParamError(name, f"must be at least 1, got {value}")
    if value > most:
        raise ParamError(name, f"must be at most {most}, got {value}")


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"format=1,permute=2"`` into a weight mapping, validated."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            raise ParamError("weights", f": {part!r} is not NAME=NUMBER") from None
        if not 0 <= weight <= MAX_WEIGHT:
            raise ParamError("weights", f": {part!r} needs a number from 0 to {MAX_WEIGHT:g}")
        weights[name.strip()] = weight
    return weights


def parse_share(text: str) -> tuple[float, float]:
    """Parse ``"MIN:MAX"`` (either side may be left empty: 0 and 1) into an answer-share bound."""
    low, sep, high = (part.strip() for part in text.partition(":"))
    try:
        if sep:
            return float(low or 0), float(high or 1)
    except ValueError:
        pass
    raise ParamError("answer_share", f": {text!r} is not MIN:MAX (shares from 0 to 1, e.g. 0.3:0.7)")


def share_within(answer: int, tokens: int, bound: tuple[float, float]) -> bool:
    """True when ``answer`` of a sample's ``tokens`` tokens is a share within ``bound`` (inclusive)."""
    return bound[0] <= (answer / tokens if tokens else 0.0) <= bound[1]


def _share_bound(value: object) -> tuple[float, float]:
    """An answer-share bound given as ``"MIN:MAX"`` or a pair of numbers, checked."""
    if isinstance(value, str):
        return _share_bound(parse_share(value))
    try:
        low, high = (float(x) for x in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ParamError("answer_share", f"must be MIN:MAX or a (MIN, MAX) pair, got {value!r}") from None
    if not 0 <= low <= high <= 1:
        raise ParamError("answer_share", f"needs 0 <= MIN <= MAX <= 1, got {low}:{high}")
    return low, high


#: The largest ``max_length``: far above any model's context, so a typo fails at once.
MAX_LENGTH = 2**31 - 1
#: The most epochs (a part file's name holds the epoch in five digits: :mod:`mosaicit.io.parts`).
MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class MosaicConfig:
    """Everything that shapes the output besides the data, the tokenizer and the tables.

    ``max_length`` is inclusive: every sample counts at most this many tokens.
    ``weights`` (strategy -> relative weight) overrides the ``version`` preset when given.
    ``answer_share`` (MIN, MAX, or ``"MIN:MAX"``), when given, bounds the share of each sample's
    tokens that its output text takes (see :mod:`mosaicit.plan.compose`); None bounds nothing.
    """

    epochs: int = 4
    wrap_mode: str = "uniform"
    max_num: int = 10
    version: str = "both"
    weights: dict[str, float] | None = None
    max_length: int = 2000
    seed: int = 42
    orderings: tuple[str, ...] = option_rules("orderings")
    mask_rules: tuple[str, ...] = option_rules("mask_rules")
    no_numbering_rate: float = 0.1
    tag_rate: float = 0.5
    generic_meta_rate: float = 0.5
    answer_share: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_count("epochs", self.epochs, MAX_EPOCHS)
        if self.max_num < 1:
            raise ParamError("max_num", f"must be at least 1, got {self.max_num}")
        check_count("max_length", self.max_length, MAX_LENGTH)
        if self.wrap_mode not in WRAP_MODES:
            modes = ", ".join(WRAP_MODES)
            raise ParamError("wrap_mode", f"must be one of {modes}, got {self.wrap_mode!r}")
        if self.version not in VERSIONS:
            raise ParamError("version", f"must be one of {', '.join(VERSIONS)}, got {self.version!r}")
        for name, value in self.strategy_weights.items():
            if name in BROKEN:
                raise ParamError("weights", f": strategy {name!r} did not load: {BROKEN[name]}")
            if name not in STRATEGIES:
                names = ", ".join(STRATEGY_NAMES)
                raise ParamError("weights", f": unknown strategy {name!r} (one of {names})")
            if not 0 <= value <= MAX_WEIGHT:
                limits = f"from 0 to {MAX_WEIGHT:g}"
                raise ParamError("weights", f": {name} needs a weight {limits}, got {value}")
        if not any(self.strategy_weights.values()):
            raise ParamError("weights", ": at least one strategy needs a positive weight")
        for strategy in STRATEGIES.values():
            if strategy.rules_option is None:
                continue
            label, chosen, known = strategy.rules_option, strategy.chosen_rules(self), strategy.rules
            unknown = [r for r in chosen if r not in known]
            if unknown or not chosen:
                problem = f"unknown {unknown}" if unknown else "nothing chosen"
                raise ParamError(label, f": {problem} (known: {', '.join(known)})")
        for label, rate in (
            ("no_numbering_rate", self.no_numbering_rate),
            ("tag_rate", self.tag_rate),
            ("generic_meta_rate", self.generic_meta_rate),
        ):
            if not 0 <= rate <= 1:
                raise ParamError(label, f"must be between 0 and 1, got {rate}")
        if self.answer_share is not None:
            object.__setattr__(self, "answer_share", _share_bound(self.answer_share))

    @property
    def strategy_weights(self) -> dict[str, float]:
        """The weight of each strategy: ``weights`` if given, else the ``version`` preset."""
        return dict(self.weights) if self.weights is not None else dict(VERSIONS[self.version])
