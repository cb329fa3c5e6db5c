"""Write every attack notebook of the corpus: ``python -m tests.attacks OUT_DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.attacks import write_corpus


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.attacks OUT_DIR", file=sys.stderr)
        return 2
    for path in write_corpus(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
