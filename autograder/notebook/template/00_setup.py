"""Notebook template, part 0: title, imports, parameters, helpers.

Read by autograder/notebook/plan.py (see its docstring for the format); build with
`python grade.py build-notebooks`. Names defined by included reference code are undefined here.
"""
# ruff: noqa: E402, F401, F821

# %% [markdown]
r"""
# Assignment 2, programming part: English to Pig Latin with Transformers

This notebook is the code of the handout's section 2, "Programming Part". It is self-contained:
the data, the models, the training code and every experiment are here, in the handout's order.
You write the graded pieces, run the experiments, and put the deliverables (plots, numbers,
written answers) in your report.

Questions are numbered *section.question*: 2.3.4 is question 4 of handout section 2.3 (the
questions of section 2.2 are those of its part 2.2.2, "Transformers for NMT").

| question | what you do | deliverables for the report |
|---|---|---|
| 2.2.1 | write `ScaledDotAttention.forward` | screenshot of your code |
| 2.2.2 | write `CausalScaledDotAttention.forward` | screenshot of your code |
| 2.2.3 | written: positional encodings | two answers of one or two sentences |
| 2.2.4 | run four encoder-decoder models | two loss plots, lowest validation losses, analysis |
| 2.3.1 | write `DecoderOnlyTransformer.forward` | screenshot of your code |
| 2.3.2 | write the missing line of `decoder_generate` | screenshot of your code |
| 2.3.3 | train the decoder-only model | written comparison |
| 2.3.4 | write `MultiHeadCausalScaledDotAttention` ($W^O$, `forward`) | screenshot of your code |
| 2.3.5 | write `calc_parameters_decoder`, run five models | loss curves, code, written answer |
| 2.4.1 | run seven models of different sizes | written answer |
| 2.4.2 | write `find_optimal_params` and `fit_linear_log` | optimal parameters at 1e15 FLOPs |
| 2.4.3 | compute-optimal tokens | written answer |

**How to work**

- In Colab: *File > Save a copy in Drive*. For the full runs, *Runtime > Change runtime type >
  GPU*.
- Run the cells from top to bottom. Your code goes where a cell says `# TODO (question 2.x.y)`:
  replace the `raise NotImplementedError(...)` line under it.
- A `check("2.x.y")` cell follows each graded question. With the course's grader installed it
  runs the public checks on the saved notebook; without it, it says how to run them. It never
  stops the notebook.
- A cell that needs an earlier part says so ("this cell needs 2.3.1 ...") instead of failing
  somewhere deep inside.
- `PROFILE = "smoke"` (in the parameters cell below) runs every experiment on a little data in
  a few minutes, even on a CPU: use it to test your code end to end (its numbers are marked as
  such: they mean nothing). `PROFILE = "full"` is the handout's suggested setting: use it for the
  plots and numbers of your report.

**Submission**: your written answers and plots go in your report (PDF, on Gradescope); this
notebook, named `hw2_code_<YOUR_UNI>.ipynb`, goes to the CourseWorks assignment page.

## Setup
"""

# %% [imports]
import importlib.util
import subprocess
import sys
import urllib.request

import matplotlib.pyplot as plt
from IPython.display import Image, display

# %% [markdown]
r"""
The parameters of this notebook (papermill can set them too). Change `PROFILE` here, then run
the notebook from the top.
"""

# %% [parameters]
# "smoke": every cell on a little data, minutes on a CPU; "full": the handout's setting
PROFILE = "full"
# "auto" uses a GPU when there is one; or "cpu", "cuda"
DEVICE = "auto"
# a folder holding pig_latin_small.txt and pig_latin_large.txt (None: look next to this notebook)
DATA_DIR = None
# download the course files when they are not found
DOWNLOAD = True
# run the public checks after each question (needs the course's grader)
RUN_CHECKS = True
# this notebook's file, for the checks: change it if you rename the notebook
NOTEBOOK_PATH = "nmt.ipynb"

# %%
# include experiments: Profile, PROFILES
# include train: resolve_device

if PROFILE not in PROFILES:
    raise ValueError(f"PROFILE must be one of {sorted(PROFILES)}, not {PROFILE!r}")
profile = PROFILES[PROFILE]
SEED = 0
if resolve_device(DEVICE).type == "cpu":
    # The models are tiny: on a CPU, one thread is faster than several (on a busy two-core
    # machine, two threads made training twenty times slower).
    torch.set_num_threads(1)
FIGURES_DIR = Path("figures")
FIGURES_DIR.mkdir(exist_ok=True)
print(
    f"profile {profile.name!r} on {resolve_device(DEVICE)}; figures go to {FIGURES_DIR.resolve()}"
)

# %% [markdown]
r"""
Helpers: `check` runs the public checks of a question, `require` stops a cell early and clearly
when it needs an earlier part, `show_figure` displays a saved figure.
"""


# %%
def check(question: str) -> None:
    """Run the public checks of one question on the saved notebook, with the course's checker
    (`nmt-check`). Never raises."""
    import json
    import tempfile

    if not RUN_CHECKS:
        return
    try:
        installed = importlib.util.find_spec("autograder.deploy.nmt_check") is not None
    except ImportError:
        installed = False
    if not installed:
        print(
            f"The public checks of {question} need the course's checker, which is not installed "
            "here. Download its file, nmt_checker-...-py3-none-any.whl, from the course page, "
            "then:\n"
            "- in Colab: upload it with the Files panel (left), run `!pip install -q "
            "nmt_checker-*.whl` in a new cell, and run this cell again;\n"
            "- on your computer (Python 3.11 or newer): `pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu` (if torch is not installed yet), then "
            "`pip install nmt_checker-*.whl`, and run this cell again, or `nmt-check "
            f"{NOTEBOOK_PATH}` in a terminal.\n"
            "Gradescope runs the same checks when you submit."
        )
        return
    if not os.path.isfile(NOTEBOOK_PATH):
        print(
            f"The checks read the saved notebook, and there is no file {NOTEBOOK_PATH} in "
            f"{os.getcwd()}. In Jupyter: save (File > Save Notebook) and set NOTEBOOK_PATH, in "
            "the parameters cell, to this notebook's file name. In Colab: File > Download > "
            "Download .ipynb, upload the downloaded file with the Files panel (left), and set "
            "NOTEBOOK_PATH to its name."
        )
        return
    # The cells this kernel ran: the checker warns when the saved file is older than them.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as executed:
        json.dump([str(source) for source in globals().get("In", [])], executed)
    command = [sys.executable, "-m", "autograder.deploy.nmt_check", NOTEBOOK_PATH]
    command += ["--question", question, "--executed", executed.name]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"could not run the public checks of {question}: {error}")
        return
    finally:
        os.unlink(executed.name)
    print((result.stdout + result.stderr).strip())


def _run_attention(attention: nn.Module) -> None:
    x = torch.zeros(1, 3, 4)
    attention(x, x, x)


FINISH = "finish it and run its cell first"
RUN_FIRST = "run that cell first (it has not run yet, or it stopped with an error)"
REQUIREMENTS = {
    "data": ("the data (the Data section)", RUN_FIRST, lambda: datasets),
    "2.2.1": (
        "2.2.1 (ScaledDotAttention.forward)",
        FINISH,
        lambda: _run_attention(ScaledDotAttention(4)),
    ),
    "2.2.2": (
        "2.2.2 (CausalScaledDotAttention.forward)",
        FINISH,
        lambda: _run_attention(CausalScaledDotAttention(4)),
    ),
    "2.3.1": (
        "2.3.1 (DecoderOnlyTransformer.forward)",
        FINISH,
        lambda: DecoderOnlyTransformer(VOCAB_SIZE, 4, 1)(torch.zeros(1, 3, dtype=torch.long)),
    ),
    "2.3.2": (
        "2.3.2 (the prompt line of decoder_generate)",
        FINISH,
        lambda: decoder_generate(decoder_model, "a", max_len=1),
    ),
    "2.3.3": ("2.3.3 (training the decoder-only model)", RUN_FIRST, lambda: decoder_model),
    "2.3.4": (
        "2.3.4 (MultiHeadCausalScaledDotAttention)",
        FINISH,
        lambda: _run_attention(MultiHeadCausalScaledDotAttention(4, 2)),
    ),
    "2.3.5": (
        "2.3.5 (calc_parameters_decoder)",
        FINISH,
        lambda: calc_parameters_decoder(VOCAB_SIZE, 4, 1, 1),
    ),
    "2.4.1": ("2.4.1 (training the seven models)", RUN_FIRST, lambda: scaling_runs),
    "2.4.2": (
        "2.4.2 (find_optimal_params and fit_linear_log)",
        FINISH,
        lambda: (
            find_optimal_params(np.array([1e3, 1e4, 1e5]), np.array([2.0, 1.0, 2.0])),
            fit_linear_log(np.array([1.0, 10.0]), np.array([1.0, 10.0])),
        ),
    ),
    "2.4.2 analysis": ("2.4.2 (the IsoFLOP analysis)", RUN_FIRST, lambda: isoflop_analysis),
}


def require(*needs: str) -> None:
    """Raise a clear RuntimeError when a part this cell needs is not done or has not run."""
    for need in needs:
        what, advice, probe = REQUIREMENTS[need]
        try:
            probe()
        except (NameError, NotImplementedError) as error:
            raise RuntimeError(
                f"this cell needs {what}: {advice} [{type(error).__name__}: {error}]"
            ) from None


def show_figure(path: Path) -> None:
    """Display a figure saved in FIGURES_DIR (the report needs the file)."""
    print(f"saved {path}")
    display(Image(filename=str(path)))
