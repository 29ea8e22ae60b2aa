"""The ``{name}`` placeholders of table texts, filled by plain substitution in one pass.

Text put into a template is never read as a template itself.
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, **values: str) -> str:
    """Replace each ``{name}`` in ``template`` with ``values[name]`` in a single pass."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
