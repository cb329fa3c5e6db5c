"""Student-controlled text in Markdown, made inert.

Anything that comes from a submission (error messages, names, printed values, the file name)
reaches feedback.md and the Markdown Gradescope renders. ``inert`` shows it as one code span,
whose fence is longer than any run of backticks inside, on one line (line breaks shown as ``⏎``)
and cut to a length: in a sentence, a list item or a table cell alike, it can never become a
link, an image, emphasis, raw HTML or a line that looks like the grader's own words.
"""

from __future__ import annotations

import re

LIMIT = 300
"""Longest student text shown, in characters."""
_TICKS = re.compile(r"`+")


def inert(value: object, *, limit: int = LIMIT) -> str:
    """``value`` as literal Markdown text: one code span on one line."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    text = re.sub(r"\r\n|\r|\n", " ⏎ ", text)
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if not text or text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"
