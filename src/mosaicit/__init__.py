"""mosaicit: mosaic instruction tuning with an exact token budget and full provenance."""

__version__ = "0.1.0"

from mosaicit.budget.tokens import TokenCounter, load_counter  # noqa: E402
from mosaicit.errors import InputError, MosaicitError  # noqa: E402
from mosaicit.plan.config import MosaicConfig  # noqa: E402
from mosaicit.plan.tables.loader import Tables, load_tables  # noqa: E402
from mosaicit.render.layout import render  # noqa: E402
from mosaicit.run.api import augment_dataset, convert_dataset  # noqa: E402
from mosaicit.run.groups import Run  # noqa: E402
from mosaicit.run.memory import Augmented, augment, mosaic  # noqa: E402
from mosaicit.types.plan import Plan  # noqa: E402
from mosaicit.types.records import Record, Reject, Sample  # noqa: E402

__all__ = [
    "Augmented",
    "InputError",
    "MosaicConfig",
    "MosaicitError",
    "Plan",
    "Record",
    "Reject",
    "Run",
    "Sample",
    "Tables",
    "TokenCounter",
    "__version__",
    "augment",
    "augment_dataset",
    "convert_dataset",
    "load_counter",
    "load_tables",
    "mosaic",
    "render",
]
