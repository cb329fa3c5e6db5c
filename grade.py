#!/usr/bin/env python3
"""Thin command-line shim over ``autograder.cli`` (``python grade.py --help``)."""

import sys

from autograder.cli import main

if __name__ == "__main__":
    sys.exit(main())
