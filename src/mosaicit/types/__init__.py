"""The ground floor: the plain data types every layer shares (records, plans, edits, features, segments).

They import nothing of mosaicit's layers, so any layer may use them (docs/architecture.md).
"""
