"""Sandbox: the only place student code runs.

``run_probes`` (parent side) starts a child process per submission, isolated (rlimits; as root
also its own user, PID, network and mount namespaces), imports the student's module there and
runs probes on it; results come back as JSON and ``.npy`` files, never pickles. Probes are
child-side functions registered with ``@probe("name")``. See docs/sandbox.md.
"""

from .model import (
    ErrorKind,
    ProbeCall,
    ProbeError,
    ProbeResult,
    SandboxError,
    SandboxLimits,
    Status,
)
from .runner import run_probes

__all__ = [
    "ErrorKind",
    "ProbeCall",
    "ProbeError",
    "ProbeResult",
    "SandboxError",
    "SandboxLimits",
    "Status",
    "run_probes",
]
