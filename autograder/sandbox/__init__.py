"""Sandbox: the only place student code runs.

``run_probes`` (parent side) starts a child process per submission, isolated (rlimits; as root
also a user of its own, PID, network, IPC and mount namespaces), a fresh interpreter or a fork of
a warm ``ForkServer``, imports the student's module there and runs probes on it; results come
back as JSON and ``.npy`` files, never pickles. Probes are child-side functions registered with
``@probe("name")``. See docs/sandbox.md.
"""

from .forkserver import ForkServer
from .model import (
    DroppedStatement,
    ErrorKind,
    ProbeCall,
    ProbeError,
    ProbeResult,
    SandboxError,
    SandboxLimits,
    Status,
    gpu_devices,
)
from .process import Launcher
from .runner import run_probes

__all__ = [
    "DroppedStatement",
    "ErrorKind",
    "ForkServer",
    "Launcher",
    "ProbeCall",
    "ProbeError",
    "ProbeResult",
    "SandboxError",
    "SandboxLimits",
    "Status",
    "gpu_devices",
    "run_probes",
]
