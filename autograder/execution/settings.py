"""What ``--execute`` was asked to do: the profile, the device, the time and memory limits.

``ExecuteSettings`` travels from the command line to the engine, the batch's workers (Ray tasks
too: a frozen dataclass of plain values) and into the batch's cache keys (``key``): a change of
any setting runs the notebook again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

PROFILES = ("smoke", "full")
"""The notebook's profiles (its ``PROFILE`` parameter)."""
DEVICES = ("auto", "cpu", "cuda")
"""The notebook's devices (its ``DEVICE`` parameter)."""
CELL_TIMEOUT_S = {"smoke": 300.0, "full": 4 * 3600.0}
"""Default wall-clock seconds a cell may run, by profile (the smoke profile's longest cell,
the seven scaling runs, takes about 20 s on one CPU thread; the full profile's takes about
16 minutes on one CPU core, far less on a GPU)."""
BUDGET_S = {"smoke": 600.0, "full": 12 * 3600.0}
"""Default wall-clock seconds the whole notebook may run, by profile (the smoke profile takes
35-75 s on one CPU thread here)."""
MEMORY_MB = 2048
"""Default RLIMIT_AS of the child and of its kernel, each (the smoke profile's kernel peaks at
about 430 MB resident and runs under 1024 MiB of address space)."""


@dataclass(frozen=True)
class ExecuteSettings:
    """How the submitted notebook is executed (``grade.py grade/batch --execute``)."""

    profile: str = "smoke"
    """The notebook's ``PROFILE``: "smoke" (every cell on a little data) or "full"."""
    device: str = "auto"
    """The notebook's ``DEVICE``: "auto", "cpu" or "cuda" (see docs/execution.md for what the
    sandbox must show the child before "cuda" can work)."""
    cell_timeout_s: float | None = None
    """Seconds one cell may run; None: the profile's default (``CELL_TIMEOUT_S``)."""
    budget_s: float | None = None
    """Seconds the whole notebook may run, kernel start included; None: the profile's default
    (``BUDGET_S``)."""
    memory_mb: int = MEMORY_MB
    """RLIMIT_AS of the sandboxed child and of its kernel (each), in MiB."""
    gpu_share: float = 0.25
    """The share of one GPU an execution asks Ray for (``--ray``, device cuda) and the
    fraction of the GPU's memory its kernel may allocate (device auto or cuda, when the machine
    has a GPU)."""
    data_dir: str | None = None
    """The folder of the official course files, shown read-only to the child; None: found where
    the reference looks (``$NMT_DATA_DIR``, ``./data``, ``../shared/data``); without them the
    notebook builds its offline data."""

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(
                f"--profile must be one of {', '.join(PROFILES)}, not {self.profile!r}"
            )
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        for name in ("cell_timeout_s", "budget_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if self.memory_mb < 256:
            raise ValueError("the execution's memory limit must be at least 256 MiB")
        if not 0 < self.gpu_share <= 1:
            raise ValueError(f"gpu_share must be in (0, 1], not {self.gpu_share!r}")

    @property
    def cell_timeout(self) -> float:
        """Seconds one cell may run."""
        return self.cell_timeout_s or CELL_TIMEOUT_S[self.profile]

    @property
    def budget(self) -> float:
        """Seconds the whole notebook may run."""
        return self.budget_s or BUDGET_S[self.profile]

    @property
    def gpu(self) -> bool:
        """Whether the execution asks for a GPU (device cuda)."""
        return self.device == "cuda"

    def with_data_dir(self, data_dir: str | None) -> ExecuteSettings:
        """A copy with the official data's folder set."""
        return replace(self, data_dir=data_dir)

    def key(self) -> dict[str, Any]:
        """Everything that can change what the execution finds (for the batch's cache keys)."""
        return {
            **asdict(self),
            "cell_timeout_s": self.cell_timeout,
            "budget_s": self.budget,
        }
