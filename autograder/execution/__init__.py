"""``--execute``: the submitted notebook run top to bottom with papermill in the sandbox.

- ``settings``: what was asked (profile, device, per-cell timeout, budget, memory, GPU share);
- ``run``: the ``execute`` probe call and its own ``run_probes`` (data read-only, downloads off);
- ``read``: the parent's reading of the answer (nbformat, nothing run) as an ``Execution``;
- ``losses``: the validation losses the template's cells print, against the reference's
  calibrated ranges (``calibration.json``, written by ``python -m
  autograder.execution.calibrate``);
- ``model``: the ``Execution`` data the report words (``autograder.report``). No points.

See docs/execution.md.
"""

from autograder.execution.model import Execution, ExecutionEnd, FigureFile, LossReading, Verdict
from autograder.execution.settings import ExecuteSettings

__all__ = [
    "ExecuteSettings",
    "Execution",
    "ExecutionEnd",
    "FigureFile",
    "LossReading",
    "Verdict",
]
