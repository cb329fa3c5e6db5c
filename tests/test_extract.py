"""Extract: a submission becomes a module of definitions, with nothing run and every line traced.

Notebooks are built here with nbformat.v4. Some tests execute the extracted module: it comes
from the hand-written cells below, never from a student, and uses the standard library only.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from autograder.extract import (
    ExtractedModule,
    ExtractError,
    Location,
    SourceCell,
    extract_source,
    extract_submission,
    read_cells,
)
from autograder.report import describe_location


def _where(location: Location) -> str:
    return f"cell {location.cell + 1}, line {location.line}"


def write_notebook(path: Path, *cells: str, markdown: bool = False) -> Path:
    """Write a v4 notebook of code cells (each after a markdown cell when ``markdown``)."""
    notebook = v4.new_notebook()
    for n, source in enumerate(cells):
        if markdown:
            notebook.cells.append(v4.new_markdown_cell(f"## Question {n}"))
        notebook.cells.append(v4.new_code_cell(source))
    nbformat.write(notebook, path)
    return path


def extract(*cells: str) -> ExtractedModule:
    """Extract code cells numbered from 0, and check that the module compiles."""
    module = extract_source([SourceCell(n, source) for n, source in enumerate(cells)])
    compile(module.source, "submission.py", "exec")
    return module


def run(module: ExtractedModule) -> dict[str, object]:
    """Execute an extracted module built from this file's own cells; return its globals."""
    namespace: dict[str, object] = {"__name__": "submission"}
    exec(compile(module.source, "submission.py", "exec"), namespace)
    return namespace


def kinds(module: ExtractedModule) -> dict[str, str]:
    """The kind of drop recorded for each dropped statement, by its first line."""
    return {d.code: d.kind for d in module.dropped}


# IPython syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "%matplotlib inline",
        "%load_ext autoreload",
        "!pip install wordsegment",
        "!nvidia-smi",
        "files = !ls /content",
        "torch.nn.Linear?",
        "??math",
    ],
)
def test_ipython_line_is_removed_and_the_cell_still_extracts(line: str) -> None:
    module = extract(f"{line}\ndef helper():\n    return 1\n{line}")
    assert line not in module.source
    assert module.definitions == {"helper": 0}
    assert {d.line for d in module.dropped} == {1, 4}
    assert {d.kind for d in module.dropped} == {"shell" if "!" in line else "magic"}


def test_magic_inside_a_block_becomes_pass() -> None:
    module = extract(
        "def train():\n    for step in range(3):\n        !nvidia-smi\n    return step"
    )
    assert "        pass\n" in module.source
    assert run(module)["train"]() == 2


def test_timing_cell_magic_keeps_its_body() -> None:
    module = extract("%%time\ndef slow():\n    return 42\nslow()")
    assert module.definitions == {"slow": 0}
    assert "%%time" not in module.source
    assert kinds(module)["slow()"] == "call"


def test_other_cell_magics_drop_the_whole_cell() -> None:
    module = extract("%%writefile helper.py\ndef helper():\n    return 1\n", "x = 1")
    assert "helper" not in module.definitions
    assert "def helper" not in module.source
    assert [(d.cell_index, d.kind) for d in module.dropped if d.kind == "magic"] == [(0, "magic")]


def test_cell_that_compiles_is_not_cleaned() -> None:
    """A docstring line starting with `!` or `%` is text, not a magic."""
    cell = 'def f():\n    """Notes.\n!important\n% of tokens\n"""\n    return 1'
    module = extract(cell)
    assert "!important\n% of tokens\n" in module.source
    assert module.dropped == ()


def test_get_ipython_calls_written_by_nbconvert_are_dropped() -> None:
    module = extract("get_ipython().run_line_magic('matplotlib', 'inline')\ndef f():\n    pass")
    assert "get_ipython" not in module.source
    assert kinds(module) == {"get_ipython().run_line_magic('matplotlib', 'inline')": "magic"}


# Colab, CUDA and globals -------------------------------------------------------------------------


def test_colab_drive_mount_and_pip_install_are_dropped() -> None:
    module = extract(
        "!pip install wordsegment\n"
        "from google.colab import drive\n"
        "drive.mount('/content/drive')\n"
        "import google.colab.files\n"
        "import math",
    )
    assert module.source.splitlines()[1:] == ["import math"]
    assert kinds(module) == {
        "!pip install wordsegment": "shell",
        "from google.colab import drive": "colab",
        "drive.mount('/content/drive')": "call",
        "import google.colab.files": "colab",
    }


def test_cuda_calls_in_method_bodies_are_kept_verbatim() -> None:
    cell = (
        "import torch.nn as nn\n"
        "class Encoder(nn.Module):\n"
        "    def __init__(self, hidden_size):\n"
        "        super().__init__()\n"
        "        self.linear = nn.Linear(hidden_size, hidden_size).cuda()\n"
        "    def forward(self, x):\n"
        "        return self.linear(x.cuda())"
    )
    module = extract(cell)
    assert "        self.linear = nn.Linear(hidden_size, hidden_size).cuda()\n" in module.source
    assert "        return self.linear(x.cuda())\n" in module.source


def test_use_cuda_and_device_globals_used_by_a_class_are_kept() -> None:
    module = extract(
        "import torch",
        "use_cuda = torch.cuda.is_available()\n"
        "device = torch.device('cuda' if use_cuda else 'cpu')\n"
        "unused = 3",
        "class Model:\n    def to_device(self, x):\n        return x.to(device)",
    )
    assert "use_cuda = torch.cuda.is_available()\n" in module.source
    assert "device = torch.device('cuda' if use_cuda else 'cpu')\n" in module.source
    assert kinds(module) == {"unused = 3": "unused"}
    assert module.missing_globals == {}


def test_vocabulary_globals_built_by_comprehensions_are_kept() -> None:
    module = extract(
        "import string\n"
        "char_to_index = {c: i + 1 for i, c in enumerate(string.ascii_lowercase)}\n"
        "index_to_char = {i: c for c, i in char_to_index.items()}\n"
        "EOS = len(char_to_index) + 2",
        "def decode(indices):\n    return ''.join(index_to_char[i] for i in indices if i != EOS)",
    )
    assert module.dropped == ()
    assert run(module)["decode"]([8, 9, 28]) == "hi"


def test_if_block_that_only_sets_a_global_is_kept_when_used() -> None:
    module = extract(
        "import os\nif os.environ.get('GPU'):\n    dev = 'cuda'\nelse:\n    dev = 'cpu'",
        "def where():\n    return dev",
    )
    assert run(module)["where"]() in {"cuda", "cpu"}


def test_attrdict_global_built_by_calls_is_kept_with_its_updates() -> None:
    module = extract(
        "class AttrDict(dict):\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        super().__init__(*args, **kwargs)\n"
        "        self.__dict__ = self",
        "args = AttrDict()\nargs.update({'hidden_size': 32})\nargs.lr = 0.5\nargs.seen = train()",
        "def hidden():\n    return args.hidden_size, args.lr",
    )
    assert run(module)["hidden"]() == (32, 0.5)
    assert kinds(module)["args.seen = train()"] == "costly"


def test_global_computed_by_a_notebook_function_is_dropped_with_a_reason() -> None:
    module = extract(
        "def train():\n    raise RuntimeError('training ran')",
        "model = train()",
        "def evaluate():\n    return model",
    )
    (drop,) = module.dropped
    assert (drop.cell_index, drop.line, drop.kind) == (1, 1, "costly")
    assert "train(...)" in drop.reason
    assert module.missing_globals == {"model": ("evaluate",)}
    run(module)  # the training call is gone, so the module imports


def test_import_of_a_package_the_grader_lacks_costs_only_its_names() -> None:
    module = extract("import math\nimport no_such_package_xyz as wandb\ndef f():\n    return 1")
    assert "try:\n    import no_such_package_xyz as wandb\nexcept ImportError:\n" in module.source
    assert "try:\n    import math" not in module.source
    assert run(module)["f"]() == 1


def test_future_import_moves_to_the_top() -> None:
    module = extract("import math", "from __future__ import annotations\ndef f(x: Later): pass")
    assert module.source.splitlines()[1] == "from __future__ import annotations"
    assert _where(module.locate(2)) == "cell 2, line 1"


# Top-level code that must not run ----------------------------------------------------------------


def test_top_level_training_call_and_loop_are_dropped() -> None:
    module = extract(
        "def train(epochs):\n    return epochs",
        "train(10)\nfor epoch in range(3):\n    train(epoch)\nwith open('log') as f:\n    pass",
        "if __name__ == '__main__':\n    train(5)\nprint('done')",
    )
    assert module.source.splitlines()[1:] == ["def train(epochs):", "    return epochs"]
    assert kinds(module) == {
        "train(10)": "call",
        "for epoch in range(3):": "loop",
        "with open('log') as f:": "statement",
        "if __name__ == '__main__':": "main_guard",
        "print('done')": "call",
    }


def test_extraction_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cells = [
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('top level')",
        f"class C:\n    pathlib.Path({str(marker)!r}).write_text('class body')",
        f"raise SystemExit({str(marker)!r})",
    ]
    extract_submission(write_notebook(tmp_path / "nb.ipynb", *cells))
    assert not marker.exists()


def test_statement_sharing_a_line_with_a_call_is_cut_out() -> None:
    module = extract("SIZE = 4; train(SIZE)\ndef size():\n    return SIZE")
    assert module.source.splitlines()[1] == "SIZE = 4"
    assert kinds(module) == {"train(SIZE)": "call"}


# Redefinitions -----------------------------------------------------------------------------------


def test_class_defined_twice_last_definition_wins() -> None:
    old = "class Attention:\n    def forward(self):\n        return 'first try'"
    new = "class Attention:\n    def forward(self):\n        return 'fixed'"
    module = extract(old, "model = train(Attention())", new)
    assert "'fixed'" in module.source
    assert "'first try'" not in module.source
    assert module.definitions == {"Attention": 2}
    assert kinds(module)["class Attention:"] == "superseded"
    assert run(module)["Attention"]().forward() == "fixed"


def test_earlier_definition_stays_when_a_statement_in_between_needs_it() -> None:
    module = extract(
        "class Base:\n    version = 1",
        "class Child(Base):\n    pass",
        "class Base:\n    version = 2",
    )
    namespace = run(module)
    assert namespace["Child"].version == 1  # as a top-to-bottom run of the notebook gives
    assert namespace["Base"].version == 2


# Broken cells ------------------------------------------------------------------------------------


def test_syntax_error_costs_only_the_definitions_of_its_cell() -> None:
    module = extract(
        "def first():\n    return 1",
        "def broken(:\n    return 2\nclass AlsoLost:\n    pass",
        "def third():\n    return first() + 2",
    )
    assert module.definitions == {"first": 0, "third": 2}
    (broken,) = module.broken_cells
    assert (broken.cell_index, broken.line) == (1, 1)
    assert broken.names == ("broken", "AlsoLost")
    assert broken.message
    assert run(module)["third"]() == 3


def test_fix_in_a_broken_cell_falls_back_to_the_earlier_definition() -> None:
    module = extract("def f():\n    return 'old'", "def f()\n    return 'new'")
    assert module.definitions == {"f": 0}
    assert run(module)["f"]() == "old"


def test_class_whose_base_is_in_a_broken_cell_is_dropped_so_the_module_imports() -> None:
    module = extract("class Base(\n", "class Child(Base):\n    pass", "def ok():\n    return 1")
    assert module.definitions == {"ok": 2}
    assert kinds(module)["class Child(Base):"] == "unresolved"
    assert run(module)["ok"]() == 1


def test_top_level_return_breaks_only_its_cell() -> None:
    module = extract("def f():\n    return 1", "return 5")
    assert module.definitions == {"f": 0}
    assert module.broken_cells[0].message == "'return' outside function"


# Line mapping ------------------------------------------------------------------------------------


def test_every_module_line_maps_to_the_cell_line_it_came_from() -> None:
    cells = [
        "%matplotlib inline\nimport math\nimport no_such_package_xyz",
        "def area(r):\n    # comment\n    return math.pi * r ** 2\narea(3)",
        "!ls\n\nSCALE = 2; print(SCALE)\n@staticmethod\ndef scaled(x):\n    return SCALE * x",
    ]
    module = extract(*cells)
    cell_lines = [cell.split("\n") for cell in cells]
    assert len(module.line_map) == len(module.source.splitlines())
    synthesized = {"try:", "except ImportError:", "pass"}
    for text, (cell, line) in zip(module.source.splitlines(), module.line_map, strict=True):
        original = cell_lines[cell][line - 1]
        assert text.strip() in synthesized | {original.strip(), f"# cell {cell + 1}"} or (
            text in original  # a statement cut out of a shared line
        )
    assert _where(module.locate(module.source.splitlines().index("    return SCALE * x") + 1)) == (
        "cell 3, line 6"
    )


def test_cells_are_counted_from_one_with_markdown_cells(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "nb.ipynb", "import math", "def f():\n    return 1", markdown=True
    )
    module = extract_submission(path)
    assert module.definitions == {"f": 3}
    line = module.source.splitlines().index("    return 1") + 1
    assert _where(module.locate(line)) == "cell 4, line 2"
    with pytest.raises(ValueError):
        module.locate(len(module.line_map) + 1)


# Reading files -----------------------------------------------------------------------------------


def test_py_file_is_split_on_cell_markers(tmp_path: Path) -> None:
    script = tmp_path / "nmt.py"
    script.write_text(
        "import math\n# %%\ndef f():\n    return 1\n"
        "# In[7]:\nget_ipython().system('ls')\ndef g():\n    return f()\n"
    )
    assert [cell.source.split("\n")[0] for cell in read_cells(script)] == [
        "import math",
        "# %%",
        "# In[7]:",
    ]
    module = extract_submission(script)
    assert module.definitions == {"f": 1, "g": 2}
    assert _where(module.locate(module.source.splitlines().index("    return f()") + 1)) == (
        "cell 3, line 4"
    )


def test_py_file_without_markers_is_one_cell(tmp_path: Path) -> None:
    script = tmp_path / "nmt.py"
    script.write_text("def f():\n    return 1\nf()\n")
    assert extract_submission(script).definitions == {"f": 0}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("nmt.ipynb", bytes(random.Random(0).randrange(256) for _ in range(4096))),
        ("nmt.ipynb", b"[1, 2, 3]"),
        ("nmt.ipynb", b'{"cells": []}'),
        ("nmt.ipynb", b'{"nbformat": 4, "cells": [{"source": '),
        ("nmt.pdf", b"%PDF-1.5 not a notebook"),
    ],
    ids=["random-bytes", "json-list", "json-without-nbformat", "cut-short", "pdf"],
)
def test_file_that_is_not_a_notebook(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ExtractError) as caught:
        extract_submission(path)
    assert caught.value.kind == "not_a_notebook"
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_nbformat_3_notebook_asks_for_a_resave(tmp_path: Path) -> None:
    notebook = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {"cells": [{"cell_type": "code", "input": "x = 1", "language": "python"}]},
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(notebook))
    with pytest.raises(ExtractError) as caught:
        extract_submission(path)
    assert caught.value.kind == "nbformat_3"
    assert "format 3" in str(caught.value)
    assert "save" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "cells",
    [[], ["   \n\t\n", ""]],
    ids=["no-cells", "whitespace-code-cells"],
)
def test_empty_notebook(tmp_path: Path, cells: list[str]) -> None:
    path = write_notebook(tmp_path / "empty.ipynb", *cells)
    with pytest.raises(ExtractError) as caught:
        extract_submission(path)
    assert caught.value.kind == "empty"
    assert "\n" not in str(caught.value)


def test_notebook_of_markdown_only_is_empty(tmp_path: Path) -> None:
    notebook = v4.new_notebook(cells=[v4.new_markdown_cell("def f(): pass")])
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    with pytest.raises(ExtractError, match="no code"):
        extract_submission(tmp_path / "nb.ipynb")


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_submission(tmp_path / "nothing.ipynb")
    assert caught.value.kind == "unreadable"


def test_notebook_with_megabytes_of_outputs(tmp_path: Path) -> None:
    """Outputs never reach the module (how fast this is: see the benchmarks, not this test)."""
    notebook = v4.new_notebook()
    png = base64.b64encode(random.Random(1).randbytes(100_000)).decode()
    for n in range(40):
        cell = v4.new_code_cell(f"def plot_{n}():\n    return {n}\nplot_{n}()")
        cell.outputs = [
            v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            v4.new_output("stream", name="stdout", text="epoch 1 loss 0.25\n" * 1000),
        ]
        notebook.cells.append(cell)
    path = tmp_path / "outputs.ipynb"
    nbformat.write(notebook, path)
    assert path.stat().st_size > 5_000_000
    module = extract_submission(path)
    assert len(module.definitions) == 40
    assert "loss" not in module.source
    assert len(module.source) < 2_000


def test_describe_names_the_enclosing_definition() -> None:
    module = extract_source(
        [
            SourceCell(0, "import math"),
            SourceCell(2, "class A:\n    def f(self):\n        return 1"),
        ]
    )
    line = module.source.splitlines().index("        return 1") + 1
    assert module.owner(line) == "A.f"
    assert module.locate(line) == Location(cell=2, line=3, definition="A.f")
    assert describe_location(module.locate(line)) == "in `A.f`, cell 3, line 3"
    assert describe_location(module.locate(1)) == "cell 1, line 1"
