"""``python -m mosaicit``: the same as the ``mosaicit`` command."""

from mosaicit.cli import main

main()
