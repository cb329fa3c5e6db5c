"""The attack corpus: every attack, how to build its notebook, and what must come of it.

``attacks()`` lists them; ``Attack.build(folder, context)`` writes one notebook (the solution or
the student template, with the attack's cells appended, or a notebook built from scratch) and
returns its path; ``write_corpus(folder)`` writes them all, with ``metadata.attack`` = {base,
summary} in each notebook, for tools that take a folder of notebooks
(``benchmarks/compare_otter.py --attacks DIR``). ``tests/test_attacks.py`` grades each one and
checks its ``Expected`` outcome, and what every attack must respect:

- results.json is valid (the schema, strict UTF-8 JSON) and agrees with feedback.md;
- no points over the honest score: the base's score less the points of ``forfeits`` (the checks
  of the definitions the attack replaces with something that is not an implementation);
- no golden value, reference line, planted file or other student's byte in anything the student
  sees;
- nothing left behind (processes, System V objects, files, the workspace), and the next
  submission's grade unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.attacks import cells
from tests.attacks.cells import Context

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "fixtures" / "submissions" / "solution.ipynb"
TEMPLATE = ROOT / "student_template" / "nmt.ipynb"
BASES = {"solution": SOLUTION, "template": TEMPLATE}


@dataclass(frozen=True)
class Expected:
    """What grading an attack must give, beyond what every attack must respect."""

    status: Literal["graded", "unreadable"] = "graded"
    """The report's status: "unreadable" for a notebook refused before any code runs."""
    score: Literal["equal", "at_most"] = "at_most"
    """"equal": the attack costs nothing and gains nothing (the grader shrugs it off);
    "at_most": it gains nothing."""
    forfeits: tuple[str, ...] = ()
    """Checks (ids, or id prefixes such as a question number) the honest version of the notebook
    does not pass: those of the definitions the attack replaces."""
    mentions: tuple[str, ...] = ()
    """Words the student must see (results.json or feedback.md): the reason, clearly."""
    limits: dict[str, Any] = field(default_factory=dict)
    """SandboxLimits overrides that keep the test fast (short budgets for the hanging ones)."""
    then: str | None = None
    """An attack graded right after this one, which must find nothing this one left."""
    needs_root: bool = False
    """Whether the defence needs the grader to be root (a sandbox user, namespaces)."""


@dataclass(frozen=True)
class Attack:
    """One hostile submission."""

    name: str
    """Short id, also the notebook's file name."""
    summary: str
    """What it does, in a sentence."""
    base: Literal["solution", "template"]
    """The notebook it starts from."""
    cells: Callable[[Context], list[str]] | None
    """The code cells it appends; None when ``notebook`` builds the whole file."""
    expected: Expected
    """What grading it must give."""
    notebook: Callable[[Path, Context], Path] | None = None
    """Writes the whole submission into a folder (for attacks on the file itself)."""

    def build(self, folder: Path, context: Context) -> Path:
        """Write the attack's submission into ``folder``; return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.notebook is not None:
            return self.notebook(folder, context)
        assert self.cells is not None  # our own invariant: one of the two is set
        return write_notebook(
            folder / f"{self.name}.ipynb", self.base, self.cells(context), self.summary
        )


def write_notebook(path: Path, base: str, sources: list[str], summary: str) -> Path:
    """The base notebook with ``sources`` appended as code cells, written as JSON with every
    non-ASCII character escaped (so that a lone surrogate is written as ``\\ud800``)."""
    notebook = json.loads(BASES[base].read_text())
    for source in sources:
        notebook["cells"].append(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": uuid.uuid4().hex[:8],
                "metadata": {},
                "outputs": [],
                "source": source,
            }
        )
    notebook["metadata"]["attack"] = {"base": base, "summary": summary}
    path.write_text(json.dumps(notebook, ensure_ascii=True, indent=1))
    return path


def _huge_cell(mb: int) -> Callable[[Context], list[str]]:
    def build(ctx: Context) -> list[str]:
        return ["_big = [" + "0, " * ((mb << 20) // 3) + "]\n"]

    return build


def _deep_json(folder: Path, ctx: Context) -> Path:
    """A notebook whose JSON nests 100 000 lists deep in its metadata."""
    notebook = json.loads(SOLUTION.read_text())
    text = json.dumps(notebook)
    deep = "[" * 100_000 + "]" * 100_000
    path = folder / "deep-json.ipynb"
    path.write_text(text[:-1] + ', "deep": ' + deep + "}")
    return path


def _odd_name(folder: Path, ctx: Context) -> Path:
    """The solution under a file name that is not valid UTF-8 and holds a newline and Markdown."""
    name = os.fsdecode(b"sub\xff\xfe\nmission **25**.ipynb")
    path = folder / name
    path.write_bytes(SOLUTION.read_bytes())
    return path


CALC = ("2.3.5/count",)
FIT = ("2.4.2/slope", "2.4.2/intercept")
OPT = ("2.4.2/fit", "2.4.2/n-opt")
ALL = ("2.",)
QUICK = {"default_budget_s": 4.0}


def attacks() -> list[Attack]:
    """Every attack of the corpus, in the order the tests grade them."""
    return [
        # what the child can see
        Attack(
            "read-goldens",
            "fit_linear_log returns the answer read from any goldens file "
            "on the machine (the checkout's, a planted copy)",
            "solution",
            cells.read_goldens,
            Expected(forfeits=FIT, needs_root=True),
        ),
        Attack(
            "exfiltrate",
            "an error message carries whatever the child could read: the "
            "reference, goldens, other students' results and notebooks, planted course files",
            "solution",
            cells.exfiltrate,
            Expected(forfeits=CALC, needs_root=True),
        ),
        # tampering and fake results
        Attack(
            "fake-output",
            "prints fake results.json, a fake score and Markdown, answers nonsense",
            "solution",
            cells.fake_output,
            Expected(forfeits=OPT),
        ),
        Attack(
            "forge-records",
            "replaces the child's main loop at import: every call 'succeeds' with made-up data",
            "template",
            cells.forge_records,
            Expected(),
        ),
        Attack(
            "tamper-pipe",
            "writes fake events to every pipe it holds",
            "solution",
            cells.tamper_pipe,
            Expected(forfeits=CALC),
        ),
        Attack(
            "pickle-forge",
            "makes the transport send a pickle whose loading would create a file",
            "solution",
            cells.pickle_forge,
            Expected(forfeits=FIT),
        ),
        Attack(
            "symlink-results",
            "makes its result files links to the goldens",
            "solution",
            cells.symlink_results,
            Expected(forfeits=FIT),
        ),
        # exits and bombs
        Attack(
            "exit",
            "os._exit(0) in a graded function",
            "solution",
            cells.exit_process,
            Expected(forfeits=CALC),
        ),
        Attack(
            "kill-everything",
            "kill -1 and SIGKILL to its parent and to init",
            "solution",
            cells.kill_everything,
            Expected(forfeits=CALC, needs_root=True),
        ),
        Attack(
            "many-processes",
            "children, detached grandchildren (setsid, double fork) and "
            "threads meant to outlive the grading",
            "solution",
            cells.many_processes,
            Expected(forfeits=CALC, needs_root=True),
        ),
        Attack(
            "memory-bomb",
            "allocates until the memory limit",
            "solution",
            cells.memory_bomb,
            Expected(forfeits=CALC),
        ),
        Attack(
            "litter",
            "leaves a workspace 3000 folders deep, locked folders, odd names, a "
            "FIFO, an open file, 2000 files; answers honestly",
            "solution",
            cells.litter,
            Expected(score="equal"),
        ),
        Attack(
            "fill-tmp",
            "fills /tmp and /dev/shm, then answers honestly",
            "solution",
            cells.fill_tmp,
            Expected(score="equal", needs_root=True),
        ),
        Attack(
            "output-flood",
            "prints past the output file's size limit",
            "solution",
            cells.output_flood,
            Expected(forfeits=OPT),
        ),
        Attack(
            "hang-everywhere",
            "every graded method and function loops forever",
            "template",
            cells.hang_everywhere,
            Expected(
                mentions=("total time budget",),
                limits={"default_budget_s": 2.0, "total_budget_s": 12.0},
            ),
        ),
        Attack(
            "import-hang",
            "importing the notebook never ends",
            "template",
            cells.import_hang,
            Expected(mentions=("to import",), limits={"import_budget_s": 15.0}),
        ),
        # what the child leaves behind
        Attack(
            "leave-behind",
            "leaves a token in System V shared memory, a message queue, a "
            "semaphore, a POSIX queue, the keyrings, /tmp, /var/tmp, /dev/shm and a daemon",
            "solution",
            cells.leave_behind,
            Expected(forfeits=CALC, then="pick-up", needs_root=True),
        ),
        Attack(
            "pick-up",
            "shows whatever an earlier grading left in those channels",
            "solution",
            cells.pick_up,
            Expected(forfeits=CALC, needs_root=True),
        ),
        # what the child can do to the parent
        Attack(
            "sparse-array",
            "a result array file sparse and 60 MB, announcing 8 GB",
            "solution",
            cells.forge_array("sparse"),
            Expected(forfeits=FIT),
        ),
        Attack(
            "lying-array",
            "a result array whose header announces 8 GB over 64 bytes",
            "solution",
            cells.forge_array("header"),
            Expected(forfeits=FIT),
        ),
        Attack(
            "many-arrays",
            "more result arrays than a record may hold together",
            "solution",
            cells.forge_array("many"),
            Expected(forfeits=FIT),
        ),
        Attack(
            "huge-cell",
            "one code cell of 30 MB",
            "solution",
            _huge_cell(30),
            Expected(score="equal", mentions=("too long to grade",)),
        ),
        Attack(
            "huge-notebook",
            "a notebook of 70 MB",
            "solution",
            _huge_cell(70),
            Expected(status="unreadable", mentions=("too large to grade",)),
        ),
        Attack(
            "deep-expression",
            "expressions nested 60 000 and 5 000 deep",
            "solution",
            cells.deep_expression,
            Expected(score="equal"),
        ),
        Attack(
            "deep-graded-function",
            "a graded function redefined 600 levels deep",
            "solution",
            cells.deep_in_a_graded_function,
            Expected(score="equal", mentions=("too deep to grade",)),
        ),
        Attack(
            "deep-json",
            "notebook JSON nested 100 000 deep",
            "solution",
            None,
            Expected(status="unreadable", mentions=("nested too deeply",)),
            notebook=_deep_json,
        ),
        Attack(
            "global-chain",
            "20 000 globals each computed from the one before",
            "solution",
            cells.global_chain,
            Expected(score="equal"),
        ),
        Attack(
            "one-line",
            "15 000 statements on one line",
            "solution",
            cells.one_line_statements,
            Expected(score="equal"),
        ),
        # text that is not valid Unicode
        Attack(
            "surrogate-error",
            "prints invalid UTF-8 and raises with a lone surrogate",
            "solution",
            cells.surrogate_error,
            Expected(forfeits=CALC),
        ),
        Attack(
            "surrogate-notebook",
            "a lone surrogate in the notebook's own text",
            "solution",
            cells.surrogate_in_notebook,
            Expected(score="equal"),
        ),
        Attack(
            "surrogate-records",
            "records that carry lone surrogates as JSON escapes",
            "solution",
            cells.surrogate_records,
            Expected(forfeits=FIT),
        ),
        Attack(
            "odd-file-name",
            "a file name that is not UTF-8, with a newline and Markdown",
            "solution",
            None,
            Expected(score="equal"),
            notebook=_odd_name,
        ),
        # the network
        Attack(
            "network",
            "fetches its answer from the network",
            "solution",
            cells.network,
            Expected(forfeits=FIT),
        ),
    ]


def default_context() -> Context:
    """A context for building the corpus on this machine."""
    from autograder.goldens import GOLDENS_DIR

    return Context(
        goldens=str(GOLDENS_DIR),
        checkout=str(ROOT),
        planted="nmt-planted-" + uuid.uuid4().hex[:8],
        channel="nmt-channel-" + uuid.uuid4().hex[:8],
        pickle_marker=str(Path(tempfile.gettempdir()) / f"nmt-unpickled-{uuid.uuid4().hex[:8]}"),
    )


def write_corpus(folder: Path, context: Context | None = None) -> list[Path]:
    """Write every attack's notebook into ``folder``; return their paths."""
    context = context or default_context()
    return [attack.build(folder / attack.name, context) for attack in attacks()]
