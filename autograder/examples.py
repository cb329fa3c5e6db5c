"""Example wrong submissions: the solution with one realistic mistake each.

Each example is one textual change to the solution code, located by an anchor (the class or
function it lives in), so the same change applies to the reference's source and to the solution
notebook. They are the bundled wrong submissions of the demo and of the tests: each must lose
exactly its question's points.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import nbformat


@dataclass(frozen=True)
class Example:
    """One mistake, applied to the solution."""

    name: str
    """File stem of the example, e.g. ``wrong-2.2.1-softmax-axis``."""
    question: str
    """The question it breaks."""
    anchor: str
    """Text that comes before the change (a ``def`` or ``class`` line)."""
    old: str
    """The solution's text that is replaced (first occurrence after the anchor)."""
    new: str
    """The mistake."""
    description: str
    """What a student did wrong, in one line."""


EXAMPLES = (
    Example(
        "wrong-2.2.1-softmax-axis",
        "2.2.1",
        "class ScaledDotAttention",
        "attention_weights = self.softmax(unnormalized_attention)",
        "attention_weights = unnormalized_attention.softmax(dim=1)",
        "softmax over the queries axis instead of the keys axis",
    ),
    Example(
        "wrong-2.2.2-no-mask",
        "2.2.2",
        "class CausalScaledDotAttention",
        'unnormalized_attention = unnormalized_attention.masked_fill(future, float("-inf"))',
        "unnormalized_attention = unnormalized_attention",
        "the causal mask is computed but never applied",
    ),
    Example(
        "wrong-2.3.1-no-positions",
        "2.3.1",
        "class DecoderOnlyTransformer",
        "x = self.embedding(inputs) + self.positional_encodings[:seq_len]",
        "x = self.embedding(inputs)",
        "forward forgets to add the positional encodings",
    ),
    Example(
        "wrong-2.3.2-no-sos",
        "2.3.2",
        "def decoder_generate",
        "tokens = [SOS_TOKEN] + string_to_indices(input_string) + [EOP_TOKEN]",
        "tokens = string_to_indices(input_string) + [EOP_TOKEN]",
        "the prompt has no <SOS> token",
    ),
    Example(
        "wrong-2.3.4-mean-of-heads",
        "2.3.4",
        "class MultiHeadCausalScaledDotAttention",
        "self.W_O = nn.Linear(num_heads * hidden_size, hidden_size)",
        "self.W_O = nn.Linear(hidden_size, hidden_size)",
        "W^O maps H features to H: the heads are not concatenated",
    ),
    Example(
        "wrong-2.3.5-no-biases",
        "2.3.5",
        "def calc_parameters_decoder",
        "linear = H * H + H",
        "linear = H * H",
        "the parameter count leaves out the linear layers' biases",
    ),
    Example(
        "wrong-2.4.2-natural-log",
        "2.4.2",
        "def fit_linear_log",
        "m, c = np.polyfit(np.log10(x), np.log10(y), 1)",
        "m, c = np.polyfit(np.log(x), np.log(y), 1)",
        "the line is fitted in natural log instead of log10",
    ),
)


def apply_example(source: str, example: Example) -> str:
    """The source with the example's mistake; ValueError when its anchor or text is missing."""
    start = source.find(example.anchor)
    at = source.find(example.old, start) if start >= 0 else -1
    if at < 0:
        raise ValueError(f"{example.name}: cannot find {example.old!r} after {example.anchor!r}")
    return source[:at] + example.new + source[at + len(example.old) :]


def apply_example_to_notebook(notebook: nbformat.NotebookNode, example: Example):
    """A copy of the notebook with the mistake made in the cell that holds the anchor."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code" and example.anchor in cell.source:
            cell.source = apply_example(cell.source, example)
            return notebook
    raise ValueError(f"{example.name}: no code cell contains {example.anchor!r}")


def example_notebook_texts(solution_text: str) -> dict[str, str]:
    """Each example's notebook, made from the solution notebook's text, by file stem."""
    notebook = nbformat.reads(solution_text, as_version=4)
    return {
        example.name: nbformat.writes(apply_example_to_notebook(notebook, example)) + "\n"
        for example in EXAMPLES
    }


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

CUDA_HARD_CODED = Example(
    "colab-cuda",
    "2.2.2",
    "class CausalScaledDotAttention",
    "        unnormalized_attention = unnormalized_attention.masked_fill(",
    "        future = future.cuda()  # written on a GPU runtime\n"
    "        unnormalized_attention = unnormalized_attention.to(device).masked_fill(",
    "the mask is moved to the GPU unconditionally",
)


def colab_style(notebook: nbformat.NotebookNode, *, output_megabytes: float = 3.0):
    """The solution as a Colab user saves it: magics, a Drive mount, CUDA globals, a first
    buggy attempt at a class fixed later, hard-coded ``.cuda()``, training at top level (the
    notebook's own cells) and megabytes of saved outputs. It must still get full marks."""
    notebook = copy.deepcopy(notebook)
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    first = code[1] if len(code) > 1 else code[0]
    notebook.cells.insert(first, nbformat.v4.new_code_cell(COLAB_PREAMBLE))
    notebook.cells.insert(first + 1, nbformat.v4.new_code_cell(BUGGY_FIRST_TRY))
    notebook = apply_example_to_notebook(notebook, CUDA_HARD_CODED)
    blob = "A" * int(output_megabytes * 1024 * 1024)
    image = nbformat.v4.new_output("display_data", data={"image/png": blob, "text/plain": "fig"})
    last_code = [c for c in notebook.cells if c.cell_type == "code"][-1]
    last_code.outputs.append(image)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"colab-{index}"
    return notebook
