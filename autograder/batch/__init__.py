"""Grade a whole class: ``python grade.py batch INPUT --out OUT [--jobs N]``.

INPUT is a folder of notebooks, a Gradescope export (``submission_metadata.yml``) or a zip of
either (``inputs``, ``safezip``, ``gradescope``). Each submission is probed once in the sandbox
(``worker``: in this process, a pool of processes or Ray tasks, ``executors``), judged by the
driver (``grading``) and cached under OUT by content (``cache``, ``codec``), so a killed batch
resumes where it stopped and a rubric change regrades without running student code. Each
student gets ``OUT/<id>/results.json`` and ``feedback.md``; the class gets gradebook.csv,
item_analysis.csv and report.html (``outputs``, ``autograder.classreport``). See
docs/ta-guide.md.
"""

from autograder.batch.inputs_model import InputError, Student, Submission
from autograder.batch.options import BatchOptions, BatchSummary, default_jobs
from autograder.batch.runner import run_batch

__all__ = [
    "BatchOptions",
    "BatchSummary",
    "InputError",
    "Student",
    "Submission",
    "default_jobs",
    "run_batch",
]
