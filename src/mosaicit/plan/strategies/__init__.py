"""The registered mosaic strategies: each one file, found and registered when this package loads."""
