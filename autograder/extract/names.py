"""Which names a top-level statement binds and uses, and whether running it is cheap.

Approximate on purpose, erring towards "uses": a name counted as used that is not keeps at most a
cheap assignment too many, while a use that is missed loses a global a definition needs.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Mapping

DEFINITIONS = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
"""Statements that define a function or a class."""

MODULE_NAMES = frozenset(dir(builtins)) | {"__name__", "__doc__", "__file__", "__builtins__"}
"""Names every module has without binding them."""

CHEAP_CALLS = frozenset(
    {
        *("abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate"),
        *("filter", "float", "frozenset", "getattr", "hasattr", "int", "isinstance", "len"),
        *("list", "map", "max", "min", "object", "ord", "pow", "range", "reversed", "round"),
        *("set", "slice", "sorted", "str", "sum", "tuple", "type", "zip"),
        "torch.device",
        "torch.cuda.is_available",
        "torch.cuda.device_count",
        "torch.backends.mps.is_available",
        "torch.get_default_dtype",
        "torch.finfo",
        "torch.iinfo",
        "torch.tensor",
        "numpy.array",
        "numpy.sqrt",
        "numpy.log",
        "numpy.log10",
        "numpy.exp",
        "numpy.float32",
        "numpy.float64",
        "numpy.finfo",
        "collections.namedtuple",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.Counter",
        "typing.NamedTuple",
        "typing.TypeVar",
        "types.SimpleNamespace",
        "functools.partial",
        "dataclasses.field",
        "re.compile",
        "os.path.join",
        "os.environ.get",
        "os.getenv",
        "pathlib.Path",
    }
)
"""Calls a global's value may make and still count as cheap: constructors, device queries."""

PURE_MODULES = frozenset({"math", "cmath", "operator", "string"})
"""Modules all of whose functions are cheap and touch nothing."""

PURE_METHODS = frozenset(
    {"items", "keys", "values", "get", "copy", "index", "count", "split", "join", "format"}
    | {"lower", "upper", "strip", "replace"}
)
"""Methods that are cheap on any value that is not a module (`vocab.items()`, `"".join(...)`)."""

RECORD_BASES = frozenset(
    {"dict", "collections.OrderedDict", "collections.defaultdict", "types.SimpleNamespace"}
    | {"typing.NamedTuple"}
)
"""Bases that make a notebook class a plain record (the `AttrDict(dict)` pattern), cheap to call."""


def bound_names(stmt: ast.stmt) -> frozenset[str]:
    """Names a top-level statement binds in the module (a star import binds none we know)."""
    match stmt:
        case ast.Import(names=aliases):
            return frozenset(a.asname or a.name.split(".")[0] for a in aliases)
        case ast.ImportFrom(names=aliases):
            return frozenset(a.asname or a.name for a in aliases if a.name != "*")
        case ast.FunctionDef() | ast.AsyncFunctionDef() | ast.ClassDef():
            return frozenset({stmt.name})
        case ast.Assign(targets=targets):
            return frozenset().union(*(_target_names(t) for t in targets))
        case ast.AnnAssign(target=target, value=value) if value is not None:
            return _target_names(target)
        case ast.AugAssign(target=target):
            return _target_names(target)
    names: set[str] = set()
    for field in ("body", "orelse", "finalbody", "handlers"):
        for child in getattr(stmt, field, ()):
            if isinstance(child, ast.ExceptHandler):
                names |= {child.name} if child.name else set()
                names |= {n for s in child.body for n in bound_names(s)}
            else:
                names |= bound_names(child)
    return frozenset(names)


def _target_names(target: ast.expr) -> frozenset[str]:
    """Plain names an assignment target binds (attributes and items bind none)."""
    match target:
        case ast.Name(id=name):
            return frozenset({name})
        case ast.Tuple(elts=elts) | ast.List(elts=elts):
            return frozenset().union(*(_target_names(e) for e in elts))
        case ast.Starred(value=value):
            return _target_names(value)
    return frozenset()


def uses(node: ast.AST, *, lazy_annotations: bool) -> tuple[frozenset[str], frozenset[str]]:
    """Global names ``node`` uses: (eager, lazy).

    Eager names are read when the statement runs (a class's bases, a function's defaults and
    decorators, an assignment's value); lazy ones only when a function it defines is called.
    Annotations are lazy under `from __future__ import annotations`, eager otherwise.
    """
    eager: set[str] = set()
    lazy: set[str] = set()
    _visit(node, eager, lazy, lazy_annotations)
    return frozenset(eager), frozenset(lazy)


def _visit(node: ast.AST, eager: set[str], lazy: set[str], lazy_ann: bool) -> None:
    """Add the names ``node`` uses to ``eager`` and ``lazy``; see ``uses``."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        args = node.args
        header = [*getattr(node, "decorator_list", []), *args.defaults, *args.kw_defaults]
        every_arg = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        notes = [a.annotation for a in every_arg if a is not None and a.annotation is not None]
        notes += [node.returns] if getattr(node, "returns", None) is not None else []
        for part in header:
            if part is not None:
                _visit(part, eager, lazy, lazy_ann)
        for note in notes:
            _visit(note, lazy if lazy_ann else eager, lazy, lazy_ann)
        body = node.body if isinstance(node.body, list) else [node.body]
        lazy |= _loaded(body) - _locals(node)
    elif isinstance(node, ast.ClassDef):
        header = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        for part in header:
            _visit(part, eager, lazy, lazy_ann)
        inner: set[str] = set()
        for stmt in node.body:
            _visit(stmt, inner, lazy, lazy_ann)
        eager |= inner - {name for stmt in node.body for name in bound_names(stmt)}
    elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
        inner, inner_lazy = set(), set()
        for child in ast.iter_child_nodes(node):
            _visit(child, inner, inner_lazy, lazy_ann)
        targets = {n for gen in node.generators for n in _target_names(gen.target)}
        eager |= inner - targets
        lazy |= inner_lazy - targets
    elif isinstance(node, ast.ExceptHandler):
        if node.type is not None:
            _visit(node.type, eager, lazy, lazy_ann)
        inner = set()
        for stmt in node.body:
            _visit(stmt, inner, lazy, lazy_ann)
        eager |= inner - {node.name}
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        eager.add(node.id)
    else:
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            eager.add(node.target.id)  # `x += 1` reads x
        for child in ast.iter_child_nodes(node):
            _visit(child, eager, lazy, lazy_ann)


def _loaded(body: Iterable[ast.AST]) -> set[str]:
    """Every name read anywhere in ``body``, nested scopes included."""
    return {
        n.id
        for stmt in body
        for n in ast.walk(stmt)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def _locals(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function (or anything nested in it) binds, less those it declares global."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    for n in ast.walk(function):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            bound.add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, ast.alias):
            bound.add(n.asname or n.name.split(".")[0])
        elif isinstance(n, DEFINITIONS | ast.ExceptHandler | ast.MatchAs | ast.MatchStar):
            bound |= {n.name} if n.name else set()
        elif isinstance(n, ast.Global):
            declared_global.update(n.names)
    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        bound.discard(function.name)  # the walk saw the function itself; a recursive call is global
    return bound - declared_global


def import_aliases(stmt: ast.stmt) -> dict[str, str]:
    """What each name an import binds stands for: `np` -> "numpy", `sqrt` -> "math.sqrt"."""
    match stmt:
        case ast.Import(names=names):  # `import a.b` binds a; `import a.b as c` binds c = a.b
            return {
                a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0]
                for a in names
            }
        case ast.ImportFrom(module=module, names=names, level=0) if module:
            return {a.asname or a.name: f"{module}.{a.name}" for a in names if a.name != "*"}
    return {}


def dotted_name(expr: ast.expr, aliases: Mapping[str, str]) -> str | None:
    """The dotted name an expression spells, imports resolved: `nn.Linear` -> "torch.nn.Linear"."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    return ".".join([aliases.get(expr.id, expr.id), *reversed(parts)])


def costly_part(expr: ast.AST, aliases: Mapping[str, str], records: frozenset[str]) -> str | None:
    """The first call in ``expr`` not known to be cheap, as code ("train(...)"), or None.

    ``records`` are the notebook's own record classes (see RECORD_BASES); lambda bodies do not
    run, so their calls do not count.
    """
    stack: list[ast.AST] = [expr]
    while stack:  # depth first, left to right; a loop, as an expression may nest deeply
        node = stack.pop()
        if isinstance(node, ast.Await | ast.Yield | ast.YieldFrom):
            return shorten_expr(node)
        if isinstance(node, ast.Call) and not _cheap_call(node, aliases, records):
            return f"{shorten_expr(node.func)}(...)"
        if isinstance(node, ast.Lambda):
            children = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))
    return None


def _cheap_call(call: ast.Call, aliases: Mapping[str, str], records: frozenset[str]) -> bool:
    """Whether a call is known to be cheap: an allowed function, a record, a pure method."""
    name = dotted_name(call.func, aliases)
    if name is not None and (
        name in CHEAP_CALLS or name in records or name.rpartition(".")[0] in PURE_MODULES
    ):
        return True
    if isinstance(call.func, ast.Attribute) and call.func.attr in PURE_METHODS:
        receiver = call.func.value
        while isinstance(receiver, ast.Attribute | ast.Subscript | ast.Call):
            receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
        return not (isinstance(receiver, ast.Name) and receiver.id in aliases)
    return False


def shorten_expr(expr: ast.AST) -> str:
    """An expression as code, cut to at most 60 characters."""
    code = ast.unparse(expr)
    return code if len(code) <= 60 else code[:57] + "..."
