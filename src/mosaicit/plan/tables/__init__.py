"""The template tables (data files), their checks and their loader.

Import from the modules: :mod:`~mosaicit.plan.tables.loader` (``load_tables``) and
:mod:`~mosaicit.plan.tables.slots` (``Tables``). The slots and checks sit below the strategies;
the loader and the coherence walk above them, asking the registry for each strategy's section.
"""
