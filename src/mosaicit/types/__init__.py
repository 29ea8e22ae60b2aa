"""The ground floor: the plain data types every layer shares (records, plans, features, segments).

They import nothing of mosaicit's layers, so any layer may use them (docs/architecture.md).
"""
