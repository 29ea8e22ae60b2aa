"""The one factory that opens a run from a :class:`~mosaicit.run.spec.RunSpec`: it loads the tables,
the template, builds the token counter and opens the count cache once, for every entry point (``augment``,
``preview``, ``eval build``, :func:`mosaicit.mosaic`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from mosaicit.budget.cache import CountCache, default_cache_dir
from mosaicit.budget.tokens import TokenCounter, hf_counter, load_counter
from mosaicit.plan.tables.loader import Tables, load_tables
from mosaicit.render.templates import chat_folder, load_template
from mosaicit.run.executors import Executor, executor_named
from mosaicit.run.groups import Run
from mosaicit.run.spec import RunSpec


@contextlib.contextmanager
def open_run(spec: RunSpec, counter: TokenCounter | None = None) -> Iterator[Run]:
    """The run ``spec`` describes, ready to measure and compose; its cache is closed on leaving.

    ``counter`` stands in for the tokenizer the spec names (a counter the caller already holds).
    The spec's executor is opened here (a Ray run joins or starts its cluster); one that does not
    use the count cache (Ray's) counts without it.
    """
    executor = executor_of(spec)
    tables = spec.tables if isinstance(spec.tables, Tables) else load_tables(spec.tables)
    template = load_template(spec.template, spec.tokenizer, spec.chat_template)
    counter = counter or counter_for(spec.template, spec.tokenizer)
    use_cache = spec.use_cache and executor.uses_cache
    cache = CountCache(spec.cache_dir or default_cache_dir(), counter.fingerprint) if use_cache else None
    try:
        yield Run(spec.config, counter, tables, template, executor, cache, spec.shards)
    finally:
        if cache:
            cache.close()


def counter_for(template: str, tokenizer: str | os.PathLike[str] | None) -> TokenCounter:
    """The counter of a run with ``--template template``: ``chat`` counts with the same tokenizer
    that renders its template (the folder's backend tokenizer, no special tokens added), so the
    count is what a trainer tokenizes; the other templates with the ``--tokenizer`` counter."""
    if template == "chat":
        folder = chat_folder(tokenizer)
        return hf_counter(folder / "tokenizer.json", str(folder))
    return load_counter(tokenizer)


def executor_of(spec: RunSpec) -> Executor:
    """The executor ``spec`` names, opened for its run (a Ray run joins or starts its cluster)."""
    return executor_named(spec.executor).open(spec.workers, spec.executor_settings)
