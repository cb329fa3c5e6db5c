"""Child side of the sandbox: everything here travels into the sandboxed child process.

The whole package is copied into the child's workspace (``autograder.sandbox.workspace``) and
is therefore visible to student code: nothing secret may live here (no goldens, no reference
code, no hidden checks). ``main`` is the child's entry point; ``limits`` and ``mounts`` enter the
sandbox; ``patches`` make GPU code run on the CPU; ``registry`` and ``builtin`` hold the probe
mechanism, and ``probes/`` the probes of this homework. The parent imports only ``wire`` (the
shared file format) from here.
"""
