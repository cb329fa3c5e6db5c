"""The mutation run (mutmut) over the grader's parent side: see docs/testing.md."""
