"""Measure the sandbox: ``python benchmarks/sandbox_benchmark.py [--repeat N]``.

Prints the numbers docs/sandbox.md quotes: the child's start-up (against a bare ``python -c
"import torch"``), the cost of entering the allowlist view alone (as root), the overhead of one
call, the child's peak memory on a small model, and the address space ``import torch`` takes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.sandbox import ProbeCall, SandboxLimits, run_probes

STUDENT = """
import torch
import torch.nn as nn


def noop():
    return 0


def memory():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: status[key].strip() for key in ("VmPeak", "VmHWM", "Threads")}


def train_small_model():
    model = nn.Transformer(d_model=32, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                           dim_feedforward=64, batch_first=True)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(64, 12, 32)
    for _ in range(20):
        loss = model(x, x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss)
"""


def call(function: str, question: str = "q", id: str | None = None) -> ProbeCall:
    return ProbeCall(id or function, "call", question, {"function": function})


def timed(function, repeat: int) -> float:
    """Median wall time of ``function()`` over ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _enter_view_once() -> tuple[float, float]:
    """In a forked process: (planning, building and pivoting into) the view, in seconds."""
    from autograder.child import limits, view

    base = Path(tempfile.mkdtemp(prefix="nmt-sandbox-bench-"))
    for folder in ("lib", "inputs", "stage", "home", "results"):
        (base / folder).mkdir()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        message = b"error"
        try:
            flags = limits.CLONE_NEWNS | limits.CLONE_NEWIPC | limits.CLONE_NEWNET
            limits._call("unshare", flags)
            start = time.perf_counter()
            config = {"hide": [], "hide_packages": ["autograder", "reference", "nmt_autograder"]}
            plan = view.plan_view(
                config, workspace=base, python_paths=view.python_paths(), uid=65534, gid=65534
            )
            planned = time.perf_counter()
            view.enter_view(plan, stage=base / "stage", new_proc=False)
            message = f"{planned - start} {time.perf_counter() - planned}".encode()
        finally:
            os.write(write_end, message)
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    shutil.rmtree(base)
    plan_s, enter_s = (float(x) for x in answer.split())
    return plan_s, enter_s


def view_cost(repeat: int) -> str:
    """Median cost of the allowlist view (root only)."""
    if os.geteuid() != 0:
        return "the view needs root: not measured"
    runs = [_enter_view_once() for _ in range(repeat)]
    plan = statistics.median(r[0] for r in runs) * 1000
    enter = statistics.median(r[1] for r in runs) * 1000
    return f"allowlist view: plan {plan:.1f} ms, build and pivot_root {enter:.1f} ms (median)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    bare = timed(
        lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True), args.repeat
    )
    print(f"bare python + import torch: {bare:.2f} s")
    print(view_cost(max(args.repeat, 5)))
    for label, drop in (("as nobody, namespaces", None), ("same user", False)):
        limits = SandboxLimits(drop_privileges=drop)
        one = timed(
            lambda limits=limits: run_probes(
                STUDENT, [call("noop")], probe_modules=[], limits=limits
            ),
            args.repeat,
        )
        start = time.perf_counter()
        many = run_probes(
            STUDENT,
            [ProbeCall(f"n{i}", "call", "q", {"function": "noop"}) for i in range(200)],
            probe_modules=[],
            limits=limits,
        )
        total = time.perf_counter() - start
        per_call = statistics.median(r.seconds for r in many) * 1000
        print(
            f"{label}: one call, start to end {one:.2f} s; 200 calls {total:.2f} s "
            f"(median {per_call:.2f} ms per call as the parent measures it)"
        )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    results = run_probes(
        STUDENT,
        [call("memory", "a"), call("train_small_model"), call("memory", id="memory_after")],
        probe_modules=[],
        limits=SandboxLimits(drop_privileges=False),
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"after import: {results[0].data['result']}")
    print(
        f"after a small Transformer's 20 training steps ({results[1].seconds:.2f} s): "
        f"{results[2].data['result']}"
    )
    print(
        f"peak RSS of the children (RUSAGE_CHILDREN): {peak / 1024:.0f} MiB "
        f"(before: {before / 1024:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
