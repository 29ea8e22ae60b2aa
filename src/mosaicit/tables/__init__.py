"""The template tables (data files), their checks and their loader.

Import from the modules: :mod:`~mosaicit.tables.loader` (``load_tables``) and
:mod:`~mosaicit.tables.slots` (``Tables``), below the strategies, which the loader asks for their sections.
"""
