"""``python -m autograder ...`` is ``python grade.py ...``."""

import sys

from autograder.cli import main

sys.exit(main())
