# ruff: noqa
# attack-base: solution
# attack-place: end
"""A complete, correct notebook whose last cell never ends (a forgotten `while True`, an
`input()` loop, a training run with no stopping rule).

Otter's execution of the notebook has no per-cell timeout, so it waits until something outside
kills it (the benchmark's --attack-timeout here, Gradescope's time limit there), and the scores
are computed in a cell after this one: no results. Ours reads the definitions without running
the notebook's top-level code, and enforces a time budget on each question's probes.
"""

import time

while True:
    time.sleep(1)
