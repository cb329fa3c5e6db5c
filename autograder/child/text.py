"""Text that crosses a boundary (child to parent, notebook to reports) as valid Unicode.

A Python string may hold surrogate code points that UTF-8 cannot encode: a ``"\\ud800"`` escape
in a notebook's or a record's JSON gives one, and so do bytes decoded with ``surrogateescape``.
Written out they make a file fail to write, or a results.json that strict JSON parsers reject.
Standard library only: the parent's extraction process imports it without numpy.
"""

from __future__ import annotations

import re
from typing import Any

SURROGATES = re.compile("[\ud800-\udfff]")
"""Code points that UTF-8 cannot encode."""


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: every surrogate code point becomes U+FFFD."""
    return SURROGATES.sub("\ufffd", text)


def clean_strings(value: Any) -> Any:
    """A JSON-like value with every string in it (keys too) passed through ``clean_text``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_strings(k): clean_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_strings(v) for v in value]
    return value
