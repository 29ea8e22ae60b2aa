"""The template tables (data files), their checks and their loader."""

from mosaicit.tables.check import fill
from mosaicit.tables.loader import Tables, load_tables

__all__ = ["Tables", "fill", "load_tables"]
