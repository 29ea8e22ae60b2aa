"""Optional dependencies, checked in one place: a missing one is one clear line naming the extra."""

from __future__ import annotations

import sys
from types import ModuleType

from mosaicit.errors import MosaicitError

#: module -> (what needs it, the package's name, the pip install target that brings it)
EXTRAS: dict[str, tuple[str, str, str]] = {
    "sentencepiece": ("a SentencePiece tokenizer.model", "sentencepiece", "'mosaicit[sentencepiece]'"),
    "tiktoken": ("a *.tiktoken tokenizer", "tiktoken", "'mosaicit[tiktoken]'"),
    "pyarrow": ("Parquet", "pyarrow", "'mosaicit[parquet]'"),
    "datasets": ("a Hugging Face dataset", "the 'datasets' package", "'mosaicit[hf]'"),
    "jinja2": ("--template chat", "jinja2", "'mosaicit[chat]'"),
    "matplotlib": ("the report", "matplotlib", "'mosaicit[report]'"),
    "rouge_score": ("ROUGE-L scoring", "rouge-score", "'mosaicit[eval]'"),
    "zstandard": (".zst files", "the zstandard package", "zstandard"),
    "ray": ("--executor ray", "Ray", "'mosaicit[ray]'"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`, or a submodule of one), or raise one clear
    :class:`MosaicitError` saying what needs it and what to install."""
    try:
        __import__(module)  # the plain import statement's path, which tests can stand in for
    except ImportError:
        what, package, target = EXTRAS[module.split(".")[0]]
        raise MosaicitError(f"{what} needs {package}: pip install {target}") from None
    return sys.modules[module]
