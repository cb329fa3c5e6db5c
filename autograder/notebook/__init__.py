"""The student notebook and the solution notebook, built from the reference and a template.

``python grade.py build-notebooks`` writes ``student_template/nmt.ipynb`` and
``fixtures/submissions/solution.ipynb``; ``--check`` fails when a committed one is stale.
Steps, each a module: ``reference_code`` (read ``reference/*.py`` as text), ``regions`` (find and
stub the solution regions), ``plan`` (the cells, from ``template/``), ``build`` (assemble, write,
check). Nothing here imports torch.
"""

from .build import (
    SOLUTION_PATH,
    STUDENT_PATH,
    BuiltNotebooks,
    build_notebooks,
    main,
    notebook_regions,
    reference_regions,
    stale_notebooks,
    write_notebooks,
)
from .plan import STUBS, PlanError
from .regions import RegionError, Stub

__all__ = [
    "SOLUTION_PATH",
    "STUBS",
    "STUDENT_PATH",
    "BuiltNotebooks",
    "PlanError",
    "RegionError",
    "Stub",
    "build_notebooks",
    "main",
    "notebook_regions",
    "reference_regions",
    "stale_notebooks",
    "write_notebooks",
]
