"""Child side: cut the channels that outlive a process or cross between sandbox users.

- A fresh, anonymous session keyring (``join_session_keyring``), so the child does not possess
  the grader's session keyring, nor share one with other children of the same user.
- A seccomp filter (``deny_keyrings``) that makes add_key, request_key and keyctl fail with
  EPERM: the *user* keyring of a uid outlives every process of it, so two submissions graded
  one after the other as the same uid could otherwise pass a message through it. No course code
  needs a keyring. (Docker's default seccomp profile blocks the same calls.)

System V IPC and POSIX message queues are cut by the child's own IPC namespace (``limits``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

KEYCTL_JOIN_SESSION_KEYRING = 1
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K, BPF_AND_K = 0x20, 0x15, 0x06, 0x54
X32_BIT = 0x40000000

AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64 = 0xC000003E, 0x40000003, 0xC00000B7
KEYRING_SYSCALLS = {
    AUDIT_ARCH_X86_64: (248, 249, 250),
    AUDIT_ARCH_I386: (286, 287, 288),
    AUDIT_ARCH_AARCH64: (217, 218, 219),
}
"""add_key, request_key and keyctl, per architecture (x86_64 processes can make i386 calls)."""
KEYCTL = {"x86_64": 250, "aarch64": 219}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def join_session_keyring() -> None:
    """Join a new anonymous session keyring; raises OSError where keyrings are unavailable."""
    number = KEYCTL.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, "keyctl: unknown system call number on this machine")
    if _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(code)}")


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def keyring_filter() -> list[bytes]:
    """The BPF program: for each known architecture, EPERM for its three keyring calls."""
    program = [_instruction(BPF_LD_W_ABS, 4)]  # seccomp_data.arch
    for arch, numbers in KEYRING_SYSCALLS.items():
        block = [_instruction(BPF_LD_W_ABS, 0)]  # seccomp_data.nr
        if arch == AUDIT_ARCH_X86_64:
            block.append(_instruction(BPF_AND_K, 0xFFFFFFFF & ~X32_BIT))
        for position, number in enumerate(numbers):
            to_deny = len(numbers) - position  # over the later tests and the allow
            block.append(_instruction(BPF_JEQ_K, number, jt=to_deny))
        block.append(_instruction(BPF_RET_K, SECCOMP_RET_ALLOW))
        block.append(_instruction(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM))
        program.append(_instruction(BPF_JEQ_K, arch, jt=0, jf=len(block)))
        program += block
    program.append(_instruction(BPF_RET_K, SECCOMP_RET_ALLOW))
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_keyrings() -> None:
    """Install the keyring filter (needs no_new_privs or root); raises OSError if refused."""
    code = b"".join(keyring_filter())
    buffer = ctypes.create_string_buffer(code, len(code))
    program = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0):
        code_ = ctypes.get_errno()
        raise OSError(code_, f"seccomp: {os.strerror(code_)}")
