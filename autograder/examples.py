"""Wrong submissions made from the bug catalogue, and a Colab-style solution.

Every known bug (``reference.mutants.BUGS``) becomes a fixture notebook: the solution notebook
with the bug's patches applied in the cells that hold their anchors, so the same change makes
the mutant of the reference (for the goldens) and the student's notebook (for the tests).
``fixtures/submissions/bugs/<BUG-ID>.ipynb`` holds one per bug; the first bug of each question
is also ``fixtures/submissions/wrong-<question>-<slug>.ipynb``, the demo's wrong submissions.
``python grade.py build-notebooks`` writes them all.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat

from reference.mutants import BUGS, Bug, Patch, apply_patch
from reference.variants import ACCEPTED, Variant


@dataclass(frozen=True)
class Example:
    """A wrong submission: one known bug applied to the solution."""

    bug: Bug
    """The bug it makes."""

    @property
    def name(self) -> str:
        """File stem of the demo example, e.g. ``wrong-2.2.1-softmax-wrong-axis``."""
        return f"wrong-{self.bug.question}-{self.bug.id.lower()}"

    @property
    def question(self) -> str:
        return self.bug.question

    @property
    def description(self) -> str:
        return self.bug.description


CATALOGUE: tuple[Example, ...] = tuple(Example(bug) for bug in BUGS)
"""One example per known bug."""
EXAMPLES: tuple[Example, ...] = tuple(
    e for i, e in enumerate(CATALOGUE) if all(o.question != e.question for o in CATALOGUE[:i])
)
"""The demo's wrong submissions: the first bug of each question."""


def apply_example(source: str, example: Example) -> str:
    """A source (the solution's module) with the example's bug; ValueError when a patch's
    anchor or text is missing."""
    for patch in example.bug.patches:
        source = apply_patch(source, patch)
    return source


def _patch_notebook(notebook: nbformat.NotebookNode, patch: Patch) -> None:
    for cell in notebook.cells:
        if cell.cell_type != "code" or patch.anchor not in cell.source:
            continue
        try:
            cell.source = apply_patch(cell.source, patch)
            return
        except ValueError:
            continue
    raise ValueError(f"no code cell holds {patch.old!r} after {patch.anchor!r}")


def apply_example_to_notebook(notebook: nbformat.NotebookNode, example: Example):
    """A copy of the notebook with the example's bug made in the cells that hold its anchors."""
    notebook = copy.deepcopy(notebook)
    for patch in example.bug.patches:
        _patch_notebook(notebook, patch)
    return notebook


def apply_variant(source: str, variant: Variant) -> str:
    """A source (the solution's module) written as the accepted variant."""
    for patch in variant.patches:
        source = apply_patch(source, patch)
    for cell in variant.cells:
        at = source.index(cell.before)
        source = source[:at] + cell.source + "\n\n\n" + source[at:]
    return source


def apply_variant_to_notebook(notebook: nbformat.NotebookNode, variant: Variant):
    """A copy of the notebook written as the accepted variant (its new cells inserted before
    the cells they name)."""
    notebook = copy.deepcopy(notebook)
    for patch in variant.patches:
        _patch_notebook(notebook, patch)
    for new in variant.cells:
        at = next(
            i
            for i, c in enumerate(notebook.cells)
            if c.cell_type == "code" and new.before in c.source
        )
        cell = nbformat.v4.new_code_cell(new.source)
        cell["id"] = f"{variant.id.lower()}-{at}"
        notebook.cells.insert(at, cell)
    return notebook


def example_notebook_texts(solution_text: str) -> dict[str, str]:
    """Every fixture made from the solution notebook's text, by path under
    ``fixtures/submissions``: ``bugs/<ID>.ipynb`` per bug, ``<name>.ipynb`` per demo example
    and ``accepted/<ID>.ipynb`` per accepted variant."""
    notebook = nbformat.reads(solution_text, as_version=4)
    texts = {}
    for example in CATALOGUE:
        text = nbformat.writes(apply_example_to_notebook(notebook, example)) + "\n"
        texts[f"bugs/{example.bug.id}.ipynb"] = text
        if example in EXAMPLES:
            texts[f"{example.name}.ipynb"] = text
    for variant in ACCEPTED:
        text = nbformat.writes(apply_variant_to_notebook(notebook, variant)) + "\n"
        texts[f"accepted/{variant.id}.ipynb"] = text
    return texts


COLAB_PREAMBLE = """%matplotlib inline
!pip install -q wordsegment
from google.colab import drive
drive.mount('/content/drive')
use_cuda = torch.cuda.is_available()
device = torch.device("cuda" if use_cuda else "cpu")"""

BUGGY_FIRST_TRY = """class ScaledDotAttention(nn.Module):
    # first attempt, fixed in a later cell (the later definition wins)
    def __init__(self, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size

    def forward(self, queries, keys, values):
        return queries, None"""

CUDA_HARD_CODED = Patch(
    "attention",
    "class CausalScaledDotAttention",
    "        unnormalized_attention = unnormalized_attention.masked_fill(",
    "        future = future.cuda()  # written on a GPU runtime\n"
    "        unnormalized_attention = unnormalized_attention.to(device).masked_fill(",
)
"""The mask moved to the GPU unconditionally, as written on a GPU runtime."""


def colab_style(notebook: nbformat.NotebookNode, *, output_megabytes: float = 3.0):
    """The solution as a Colab user saves it: magics, a Drive mount, CUDA globals, a first
    buggy attempt at a class fixed later, hard-coded ``.cuda()``, training at top level (the
    notebook's own cells) and megabytes of saved outputs. It must still get full marks."""
    notebook = copy.deepcopy(notebook)
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    first = code[1] if len(code) > 1 else code[0]
    notebook.cells.insert(first, nbformat.v4.new_code_cell(COLAB_PREAMBLE))
    notebook.cells.insert(first + 1, nbformat.v4.new_code_cell(BUGGY_FIRST_TRY))
    _patch_notebook(notebook, CUDA_HARD_CODED)
    blob = "A" * int(output_megabytes * 1024 * 1024)
    image = nbformat.v4.new_output("display_data", data={"image/png": blob, "text/plain": "fig"})
    last_code = [c for c in notebook.cells if c.cell_type == "code"][-1]
    last_code.outputs.append(image)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"colab-{index}"
    return notebook
