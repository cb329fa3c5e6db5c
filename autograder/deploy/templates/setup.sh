#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu 22.04 by
# default). It installs Python 3.11 or newer when there is none, then into a virtual environment
# a CPU-only torch and the grader; it makes the grader package and this folder (goldens, rubric,
# wheel) readable by root alone, and checks that a sandboxed child runs. Any error stops it, and
# Gradescope shows the build as failed. Written by `python grade.py build-autograder`; see
# docs/course-staff.md in the project.
#
#   TORCH_INDEX_URL      where torch comes from (default: PyTorch's CPU wheel index)
#   NMT_AUTOGRADER_VENV  the virtual environment (default /opt/nmt-autograder)
#   NMT_PYTHON           the Python to build it with (default: the newest python3.x >= 3.11)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TORCH_VERSION="@TORCH_VERSION@"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
VENV="${NMT_AUTOGRADER_VENV:-/opt/nmt-autograder}"
WHEEL="$HERE/@WHEEL@"

say() { echo "setup.sh: $*"; }
fail() { echo "setup.sh: error: $*" >&2; exit 1; }

find_python() {
    local candidate
    for candidate in ${NMT_PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

[ -f "$WHEEL" ] || fail "the grader's wheel $WHEEL is missing from the zip"
PYTHON="$(find_python || true)"
if [ -z "$PYTHON" ]; then
    command -v apt-get >/dev/null || fail "no Python 3.11 or newer, and no apt-get to install one"
    say "installing python3.11 from the distribution's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv
    PYTHON="$(find_python)" || fail "python3.11 did not install"
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    command -v apt-get >/dev/null || fail "$PYTHON has no venv module (ensurepip)"
    version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    say "installing python$version-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$version-venv"
fi

say "creating $VENV with $("$PYTHON" -V 2>&1) ($PYTHON)"
"$PYTHON" -m venv --clear "$VENV"
PIP=("$VENV/bin/python" -m pip install --no-cache-dir --disable-pip-version-check)
say "installing torch==$TORCH_VERSION (CPU only) from $TORCH_INDEX_URL"
"${PIP[@]}" --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
say "installing the grader"
"${PIP[@]}" "$WHEEL"
"$VENV/bin/python" -I - "$TORCH_VERSION" <<'PY'
import sys

import torch

if torch.__version__.split("+")[0] != sys.argv[1] or torch.cuda.is_available():
    sys.exit(f"setup.sh: error: expected the CPU torch {sys.argv[1]}, got {torch.__version__}")
PY

# Root-only: the grader (its hidden checks) and this folder (goldens, rubric, wheel). The
# sandboxed child runs as nobody and gets its own copy of the child-side code.
SITE="$("$VENV/bin/python" -I -c 'import autograder, pathlib; print(pathlib.Path(autograder.__file__).parent.parent)')"
chmod -R go-rwx "$SITE/autograder" "$SITE"/@DIST_INFO@ "$HERE"

say "checking that a sandboxed child runs"
"$VENV/bin/python" -I -m autograder.deploy.container --verify --root "$(dirname "$HERE")"
say "done"
