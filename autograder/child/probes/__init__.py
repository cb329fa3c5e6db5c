"""Child-side probes: the code that exercises a submission inside the sandbox.

These modules run only in the sandbox's child process, next to the student's code. They import
torch, never read goldens, and return plain data (JSON-able dicts and numpy arrays). Where a probe
needs a model part of our own it uses a stand-in (``standins.py``), never the reference solution.
"""
