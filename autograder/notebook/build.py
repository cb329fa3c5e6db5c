"""Assemble the student and solution notebooks from the template and the reference, and check
that the committed ones are what the builder makes (``python grade.py build-notebooks [--check]``).

Both notebooks have the same cells; they differ only in the solution regions, kept verbatim in
the solution (markers included) and replaced by stubs in the student's. The output is
deterministic (cell ids from positions, no outputs, sorted keys), so ``--check`` compares bytes.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.examples import example_notebook_texts

from .given import GIVEN_PATH, given_module_source
from .plan import STUBS, TEMPLATE_DIR, Include, PlanError, PlannedCell, read_plan
from .reference_code import ImportName, ReferenceModule, read_reference, render_imports
from .regions import RegionError, find_regions, stub_regions

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDENT_PATH = Path("student_template/nmt.ipynb")
"""The notebook students receive, relative to the repository root."""
SOLUTION_PATH = Path("fixtures/submissions/solution.ipynb")
"""The complete notebook, relative to the repository root."""

METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


@dataclass(frozen=True)
class BuiltNotebooks:
    """The two notebooks as the text of their files."""

    solution: str
    """Solution regions kept, markers included."""
    student: str
    """Solution regions replaced by stubs."""

    def files(self, root: Path) -> dict[Path, str]:
        """Where each notebook goes under the repository ``root``: both notebooks, the example
        wrong submissions made from the solution (``autograder.examples``) and the child's
        module of given code (``autograder.notebook.given``)."""
        files = {root / SOLUTION_PATH: self.solution, root / STUDENT_PATH: self.student}
        for name, text in example_notebook_texts(self.solution).items():
            files[root / SOLUTION_PATH.parent / name] = text
        files[root / GIVEN_PATH] = given_module_source(self.student)
        return files


def _is_definition(text: str) -> bool:
    return text.lstrip().startswith(("def ", "class ", "@", "async def "))


def _join(pieces: list[str]) -> str:
    """Blocks separated as ruff formats a module: two blank lines around functions and classes,
    one around other multi-line blocks, none between one-line constants."""
    out = pieces[0]
    for before, after in zip(pieces, pieces[1:], strict=False):
        if _is_definition(before) or _is_definition(after):
            out += "\n\n\n"
        elif "\n" in before or "\n" in after:
            out += "\n\n"
        else:
            out += "\n"
        out += after
    return out


def _expand(
    cell: PlannedCell, modules: dict[str, ReferenceModule], included: dict[str, str]
) -> str:
    """The code of a cell with its includes replaced by reference definitions."""
    pieces: list[str] = []
    for part in cell.parts:
        if not isinstance(part, Include):
            pieces.append(part)
            continue
        if part.module not in modules:
            raise PlanError(f"{cell.where}: there is no reference/{part.module}.py")
        definitions = modules[part.module].definitions
        for name in part.names:
            if name not in definitions:
                raise PlanError(f"{cell.where}: reference/{part.module}.py has no top-level {name}")
            if name in included:
                raise PlanError(f"{cell.where}: {name} is already included at {included[name]}")
            included[name] = cell.where
            if definitions[name].source not in pieces:
                pieces.append(definitions[name].source)
    return _join(pieces)


def _names(code: list[str]) -> tuple[set[str], set[str]]:
    """(names read, names bound) anywhere in the code cells."""
    used: set[str] = set()
    bound: set[str] = set()
    for text in code:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name):
                (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
    return used, bound


def _imports(
    cell: PlannedCell, code: list[str], modules: dict[str, ReferenceModule], sources: set[str]
) -> str:
    """The imports cell: the template's own imports and those of the reference modules the
    notebook takes definitions from, keeping only the names the notebook reads."""
    own: set[ImportName] = set()
    for part in cell.parts:
        if isinstance(part, Include):
            raise PlanError(f"{cell.where}: the imports cell cannot include definitions")
        for node in ast.parse(part).body:
            if not isinstance(node, ast.Import | ast.ImportFrom):
                raise PlanError(f"{cell.where}: the imports cell holds only import statements")
            if isinstance(node, ast.Import):
                own |= {ImportName(a.name, None, a.asname) for a in node.names}
            else:
                own |= {ImportName(node.module or "", a.name, a.asname) for a in node.names}
    candidates = own | {name for m in sorted(sources) for name in modules[m].imports}
    binders: dict[str, ImportName] = {}
    for name in sorted(candidates, key=ImportName.sort_key):
        if binders.setdefault(name.bound, name) != name:
            raise PlanError(f"{name.bound} is imported two ways: {binders[name.bound]} and {name}")
    used, _ = _names(code)
    return render_imports({name for name in candidates if name.bound in used})


def _check_names(code: list[str], modules: dict[str, ReferenceModule]) -> None:
    """Every reference definition the notebook reads must be in it (a new helper in the
    reference has to be included somewhere)."""
    used, bound = _names(code)
    defined_in = {name: m for m, module in modules.items() for name in module.definitions}
    missing = sorted((used & defined_in.keys()) - bound)
    if missing:
        listed = ", ".join(f"{n} (reference/{defined_in[n]}.py)" for n in missing)
        raise PlanError(f"the notebook reads {listed} but includes no definition of it")


def _check_regions(solution_code: list[str], modules: dict[str, ReferenceModule]) -> None:
    """Each reference region is in the notebook once, and each has a stub."""
    expected = sorted(r.owner for m in modules.values() for r in find_regions(m.path.read_text()))
    found = sorted(r.owner for text in solution_code for r in find_regions(text))
    if found != expected:
        raise PlanError(f"regions in the notebook {found} differ from the reference's {expected}")
    stale = sorted(STUBS.keys() - set(expected))
    if stale:
        raise PlanError(f"STUBS has entries for regions the reference no longer has: {stale}")


def _write_notebook(cells: list[tuple[str, str]]) -> str:
    notebook = nbformat.v4.new_notebook(metadata=METADATA)
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    for index, (kind, source) in enumerate(cells):
        cell_id = f"cell-{index:02d}"
        if kind == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(source, id=cell_id))
        else:
            tags = {"tags": ["parameters"]} if kind == "parameters" else {}
            notebook.cells.append(nbformat.v4.new_code_cell(source, id=cell_id, metadata=tags))
    return nbformat.writes(notebook) + "\n"


def build_notebooks(
    *, reference_dir: Path = REPO_ROOT / "reference", template_dir: Path = TEMPLATE_DIR
) -> BuiltNotebooks:
    """Build both notebooks. Raises PlanError or RegionError when the template and the
    reference do not fit together."""
    plan = read_plan(template_dir)
    modules = read_reference(reference_dir)
    included: dict[str, str] = {}
    solution: list[tuple[str, str]] = []
    for cell in plan:
        if cell.kind == "markdown":
            solution.append((cell.kind, str(cell.parts[0])))
        elif cell.kind != "imports":
            solution.append((cell.kind, _expand(cell, modules, included)))
        else:
            solution.append((cell.kind, ""))  # filled in below, once every use is known
    code = [text for kind, text in solution if kind not in ("markdown", "imports")]
    _check_names(code, modules)
    _check_regions(code, modules)
    sources = {include.module for include in _includes(plan)}
    index = next(i for i, cell in enumerate(plan) if cell.kind == "imports")
    solution[index] = ("imports", _imports(plan[index], code, modules, sources))
    student = [
        (kind, stub_regions(text, STUBS, filename=plan[i].where) if kind != "markdown" else text)
        for i, (kind, text) in enumerate(solution)
    ]
    return BuiltNotebooks(solution=_write_notebook(solution), student=_write_notebook(student))


def _includes(plan: list[PlannedCell]) -> list[Include]:
    return [part for cell in plan for part in cell.parts if isinstance(part, Include)]


def notebook_regions(notebook_text: str) -> dict[str, tuple[str, ...]]:
    """The solution regions of a built notebook, by owner (``Class.method`` or ``function``)."""
    notebook = nbformat.reads(notebook_text, as_version=4)
    regions: dict[str, tuple[str, ...]] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            for region in find_regions(cell.source, filename=f"cell {index}"):
                regions[region.owner] = region.body
    return regions


def reference_regions(reference_dir: Path = REPO_ROOT / "reference") -> dict[str, tuple[str, ...]]:
    """The solution regions of the reference modules, by owner."""
    regions: dict[str, tuple[str, ...]] = {}
    for path in sorted(reference_dir.glob("*.py")):
        for region in find_regions(path.read_text(encoding="utf-8"), filename=str(path)):
            regions[region.owner] = region.body
    return regions


def stale_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The notebooks under ``root`` that are missing or differ from what the builder makes."""
    built = build_notebooks(reference_dir=root / "reference")
    return [
        path
        for path, text in built.files(root).items()
        if not path.is_file() or path.read_bytes() != text.encode("utf-8")
    ]


def write_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """Build both notebooks and write them under ``root``; returns their paths."""
    built = build_notebooks(reference_dir=root / "reference")
    for path, text in built.files(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return list(built.files(root))


def main(*, check: bool = False, root: Path = REPO_ROOT) -> int:
    """``build-notebooks``: write both notebooks, or with ``check`` compare them (exit 1 when
    stale, 2 when the template and the reference do not fit)."""
    try:
        if not check:
            for path in write_notebooks(root):
                print(f"wrote {path.relative_to(root)}")
            return 0
        stale = stale_notebooks(root)
    except (PlanError, RegionError, ValueError) as error:  # ValueError: a bug's patch is stale
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"stale: {path.relative_to(root)} is not what the builder makes", file=sys.stderr)
    print("run `python grade.py build-notebooks` and commit the result" if stale else "up to date")
    return 1 if stale else 0
