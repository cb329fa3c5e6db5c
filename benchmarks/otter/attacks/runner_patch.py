# ruff: noqa
# attack-base: template
# attack-place: end
"""Full marks without doing the work: monkeypatch the grader's test runner.

The student template (every question a stub) plus this cell. The patch runs when the class
below is *defined*, so it runs both when a notebook is executed top to bottom (otter) and when
a grader imports the notebook's definitions (ours). For otter it makes every exception-based
test case a no-op (and every OK-format doctest "pass"): otter's tests run in the student's own
kernel, after the student's cells, with the student's modules. For ours it replaces whatever
grader functions it finds loaded in its process.
"""


def _patch_graders():
    import sys

    patched = []
    try:  # otter: exception-based tests pass when call_func raises nothing
        from otter.test_files import exception_test

        exception_test.test_case.call_func = lambda self, env: None
        patched.append("otter exception tests")
    except ImportError:
        pass
    try:  # otter: OK-format doctests
        from otter.test_files import ok_test

        ok_test.run_doctest = lambda name, source, env: (True, "")
        patched.append("otter OK tests")
    except ImportError:
        pass
    for name, module in list(sys.modules.items()):  # ours, if any of it is loaded here
        if not name.startswith("autograder") or module is None:
            continue
        for attr in list(vars(module)):
            if any(word in attr.lower() for word in ("check", "expect", "fail", "score")):
                try:
                    setattr(module, attr, lambda *args, **kwargs: True)
                    patched.append(f"{name}.{attr}")
                except (AttributeError, TypeError):
                    pass
    return patched


class _PatchGraders:
    patched = _patch_graders()
