"""The template tables (data files) and their loader."""

from mosaicit.tables.loader import MASK_RULES, PERMUTE_RULES, Tables, fill, load_tables

__all__ = ["MASK_RULES", "PERMUTE_RULES", "Tables", "fill", "load_tables"]
