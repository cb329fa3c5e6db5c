"""``grade.py batch --ray``: the same batch as Ray tasks gives the same files as a local run.

Needs Ray (``pip install ".[cluster]"``; ``.ci/run`` installs it): skipped without it on a
developer's machine, a failure in CI (``CI=true``). One local Ray with 2 CPUs is started for the
whole session.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from autograder.batch import BatchOptions, run_batch

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = [
    ROOT / "fixtures" / "submissions" / "solution.ipynb",
    ROOT / "student_template" / "nmt.ipynb",
    sorted((ROOT / "fixtures" / "submissions").glob("wrong-*.ipynb"))[0],
]


def _ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail('Ray is missing in CI: .ci/run must install ".[cluster]"')
        pytest.skip('needs Ray: pip install ".[cluster]"')
    return ray


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray with 2 CPUs, started once for the session; its address."""
    ray = _ray()
    context = ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",  # loopback only
    )
    yield context.address_info["address"]
    ray.shutdown()


def _without_timings(path: Path) -> dict:
    results = json.loads(path.read_text())
    results.pop("execution_time")
    results["extra_data"].pop("timings", None)
    return results


@pytest.mark.slow
def test_a_ray_batch_writes_what_a_local_batch_writes(ray_address, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for path in SUBMISSIONS:
        shutil.copy(path, source / f"{path.parent.name}-{path.name}")
    local, remote = tmp_path / "local", tmp_path / "ray"
    run_batch(BatchOptions(source=source, out=local, jobs=1, progress=False))
    summary = run_batch(
        BatchOptions(source=source, out=remote, ray_address=ray_address, progress=False)
    )
    assert summary.probed == len(SUBMISSIONS) and summary.statuses == {"graded": 3}
    students = sorted(p.name for p in local.iterdir() if (p / "results.json").is_file())
    assert len(students) == len(SUBMISSIONS)
    for student in students:
        assert _without_timings(remote / student / "results.json") == _without_timings(
            local / student / "results.json"
        )
        for name in ("feedback.md",):
            assert (remote / student / name).read_bytes() == (local / student / name).read_bytes()
    for name in ("gradebook.csv", "item_analysis.csv"):
        assert (remote / name).read_bytes() == (local / name).read_bytes()
    probes = sorted(p.name for p in (remote / ".batch" / "cache" / "probes").iterdir())
    assert probes == sorted(p.name for p in (local / ".batch" / "cache" / "probes").iterdir())
    for name in probes:  # the driver wrote the same cache entries, timings aside
        if name.endswith(".npz"):
            assert (remote / ".batch/cache/probes" / name).read_bytes() == (
                local / ".batch/cache/probes" / name
            ).read_bytes()
