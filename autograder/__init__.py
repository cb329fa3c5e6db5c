"""The grading engine: extract -> sandbox -> checks -> report, and its front ends."""

__version__ = "0.1.0"
