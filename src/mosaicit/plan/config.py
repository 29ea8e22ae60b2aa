"""The options that shape the mosaics, each declared once (:mod:`mosaicit.types.options`), checked here."""

from __future__ import annotations

from dataclasses import dataclass

from mosaicit.errors import ParamError
from mosaicit.plan.strategies import BROKEN, STRATEGIES, STRATEGY_NAMES, option_rules
from mosaicit.types.options import between, check_options, comma_list, count, option

WRAP_MODES = ("uniform", "fix_max", "max_length", "exp", "pareto", "lognormal", "logistic2")
#: The names of the mixes (``version``, ``--mix``), in the order ``--help`` lists them.
MIXES = ("format", "order", "mask", "both", "primary", "rules")
#: Each mix's strategy weights: weight 1 for every strategy that declares the mix (``Strategy.mixes``).
VERSIONS: dict[str, dict[str, float]] = {
    mix: {name: 1 for name, strategy in STRATEGIES.items() if mix in strategy.mixes} for mix in MIXES
}


#: The largest strategy weight (weights are relative; their sum must stay a finite number).
MAX_WEIGHT = 1e9


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
_ORDERINGS, _MASK_RULES = option_rules("orderings"), option_rules("mask_rules")
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

    epochs: int = option(
        4,
        flags=("--epochs", "--epo-num"),
        help="Shuffled passes over the data; each record appears once per pass.",
        block="epochs",
        check=count(MAX_EPOCHS),
    )
    wrap_mode: str = option(
        "uniform",
        help="How the target number of records per mosaic is drawn.",
        block="epochs",
        choices=WRAP_MODES,
    )
    max_num: int = option(
        10,
        flags=("--max-num", "--wrap-max-num"),
        help="Most records in one mosaic.",
        block="epochs",
        check=count(),
    )
    version: str = option(
        "both",
        flags=("--mix", "--version"),
        help="Strategy mix: format, order (+permute), mask (+maskout), both, primary, or rules (+rules). "
        "--version is the research script's name for it.",
        block="strategy",
        choices=MIXES,
    )
    weights: dict[str, float] | None = option(
        None,
        help=f"Relative strategy weights, e.g. 'format=2,permute=1'; overrides --mix. "
        f"Strategies: {', '.join(STRATEGY_NAMES)}.",
        block="strategy",
        parse=lambda text: parse_weights(text) or None,
    )
    max_length: int = option(
        2000,
        help="Token budget per sample, inclusive: no sample counts more.",
        block="budget",
        check=count(MAX_LENGTH),
    )
    seed: int = option(
        42, help="Random seed; the same input, options and seed give the same bytes.", block="budget"
    )
    orderings: tuple[str, ...] = option(
        _ORDERINGS,
        help=f"Comma-separated permute orderings to use (default all: {', '.join(_ORDERINGS)}).",
        block="strategy",
        parse=comma_list,
    )
    mask_rules: tuple[str, ...] = option(
        _MASK_RULES,
        help=f"Comma-separated maskout rules to use (default all: {', '.join(_MASK_RULES)}).",
        block="strategy",
        parse=comma_list,
    )
    no_numbering_rate: float = option(0.1, help="Share of prompts without numbers.", check=between(0, 1))
    tag_rate: float = option(0.5, help="Share of prompts asking for tags.", check=between(0, 1))
    generic_meta_rate: float = option(
        0.5, help="Share of mosaics without tags that state a generic meta-instruction.", check=between(0, 1)
    )
    answer_share: tuple[float, float] | None = option(
        None,
        metavar="MIN:MAX",
        help="Bound the share of each mosaic's tokens that its output text takes (e.g. 0.3:0.7; "
        "either side may be left empty): groups are cut back to one within it, and a record "
        "outside it alone is rejected (answer_share). The summary reports the shares. "
        "[default: no bound]",
        block="epochs",
    )

    def __post_init__(self) -> None:
        check_options(self)
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
        if self.answer_share is not None:
            object.__setattr__(self, "answer_share", _share_bound(self.answer_share))

    @property
    def strategy_weights(self) -> dict[str, float]:
        """The weight of each strategy: ``weights`` if given, else the ``version`` preset."""
        return dict(self.weights) if self.weights is not None else dict(VERSIONS[self.version])
