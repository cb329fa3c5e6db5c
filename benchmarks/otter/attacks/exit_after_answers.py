# ruff: noqa
# attack-base: solution
# attack-place: end
"""A complete, correct notebook whose last cell ends the process (os._exit(0)).

Not an attempt to gain points: a stray exit, a segfault in a native library, or an
out-of-memory kill at the end of a notebook. Every answer above it is right. Otter runs the
notebook and computes the scores in a cell appended after this one, in the same kernel: the
kernel dies first, and the submission gets no results at all. Ours reads the definitions
without running the notebook's top-level code.
"""

import os

os._exit(0)
