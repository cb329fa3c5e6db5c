"""Channels between two gradings: what one submission may leave for the next to pick up.

``leave_behind`` tries each way a process could leave a message that outlives it (System V
shared memory, message queue and semaphore, a POSIX message queue, the user, session and
user-session keyrings, files in the world-writable folders, a detached process that keeps
running, named ``nmt-`` and the token's last part); ``pick_up`` tries to read each of them.
Both are self-contained functions (no imports outside the standard library, nothing global),
so that the attack corpus can paste their source into a notebook (``inspect.getsource``) and
the sandbox tests can call them from a probe.
"""

from __future__ import annotations


def leave_behind(token: str) -> dict:
    """Leave ``token`` in every channel that accepts it; return {channel: what was done}."""
    import ctypes
    import os
    import struct
    import time

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.shmat.restype = ctypes.c_void_p
    key, data, done = 0x4E4D5431, token.encode(), {}
    arch = os.uname().machine
    shmid = libc.shmget(key, 4096, 0o1666)
    if shmid >= 0:
        address = libc.shmat(shmid, None, 0)
        if address not in (None, 2**64 - 1):
            ctypes.memmove(address, data, len(data))
            libc.shmdt(ctypes.c_void_p(address))
            done["shm"] = shmid
    msqid = libc.msgget(key, 0o1666)
    message = struct.pack("l", 1) + data
    if msqid >= 0 and libc.msgsnd(msqid, message, len(data), 0o4000) == 0:
        done["msg"] = msqid
    semid = libc.semget(key, 1, 0o1666)
    if semid >= 0 and libc.semctl(semid, 0, 16, 42) == 0:  # SETVAL
        done["sem"] = semid
    mq_open, mq_send = {"x86_64": (240, 242), "aarch64": (180, 182)}.get(arch, (None, None))
    if mq_open is not None:
        fd = libc.syscall(mq_open, b"nmt-channel", 0o101, 0o666, None)  # O_CREAT | O_WRONLY
        if fd >= 0 and libc.syscall(mq_send, fd, data, len(data), 0, None) == 0:
            done["mqueue"] = fd
    add_key = {"x86_64": 248, "aarch64": 217}.get(arch)
    for name, ring in (("user_keyring", -4), ("session_keyring", -3), ("user_session", -5)):
        if add_key is not None:
            serial = libc.syscall(add_key, b"user", b"nmt-channel", data, len(data), ring)
            if serial > 0:
                done[name] = serial
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(os.path.join(folder, "nmt-channel"), "w") as f:
                f.write(token)
            os.chmod(os.path.join(folder, "nmt-channel"), 0o666)
            done[folder] = True
        except OSError:
            pass
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:  # a daemon: new session, second fork, renamed, sleeps for an hour
        try:
            os.setsid()
            if os.fork() == 0:
                name = ("nmt-" + token.rsplit("-", 1)[-1])[:15].encode()
                libc.prctl(15, name, 0, 0, 0)  # PR_SET_NAME
                os.write(write_end, str(os.getpid()).encode())
                time.sleep(3600)
        finally:
            os._exit(0)
    os.waitpid(first, 0)
    done["daemon"] = int(os.read(read_end, 32) or b"0")
    return done


def pick_up() -> dict:
    """Read whatever an earlier grading left in the channels of ``leave_behind``."""
    import ctypes
    import os
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.shmat.restype = ctypes.c_void_p
    key, found = 0x4E4D5431, {}
    arch = os.uname().machine
    shmid = libc.shmget(key, 0, 0)
    if shmid >= 0:
        address = libc.shmat(shmid, None, 0o10000)  # SHM_RDONLY
        if address not in (None, 2**64 - 1):
            found["shm"] = ctypes.string_at(address, 64).split(b"\0")[0].decode("ascii", "replace")
    msqid = libc.msgget(key, 0)
    if msqid >= 0:
        buffer = ctypes.create_string_buffer(struct.calcsize("l") + 256)
        size = libc.msgrcv(msqid, buffer, 256, 0, 0o4000)  # IPC_NOWAIT
        found["msg"] = buffer.raw[struct.calcsize("l") :][: max(size, 0)].decode("ascii", "replace")
    semid = libc.semget(key, 0, 0)
    if semid >= 0:
        found["sem"] = libc.semctl(semid, 0, 12)  # GETVAL
    mq_open, mq_receive = {"x86_64": (240, 243), "aarch64": (180, 183)}.get(arch, (None, None))
    if mq_open is not None:
        fd = libc.syscall(mq_open, b"nmt-channel", 0o4000, 0, None)  # O_RDONLY | O_NONBLOCK
        if fd >= 0:
            buffer = ctypes.create_string_buffer(8192)
            size = libc.syscall(mq_receive, fd, buffer, 8192, None, None)
            found["mqueue"] = buffer.raw[: max(size, 0)].decode("ascii", "replace")
    request_key = {"x86_64": (249, 250), "aarch64": (218, 219)}.get(arch)
    if request_key is not None:
        serial = libc.syscall(request_key[0], b"user", b"nmt-channel", None, 0)
        if serial > 0:
            buffer = ctypes.create_string_buffer(256)
            size = libc.syscall(request_key[1], 11, serial, buffer, 256)  # KEYCTL_READ
            found["keyring"] = buffer.raw[: max(size, 0)].decode("ascii", "replace")
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(os.path.join(folder, "nmt-channel")) as f:
                found[folder] = f.read(200)
        except OSError:
            pass
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().startswith("nmt-"):
                    found.setdefault("processes", []).append(int(name))
        except OSError:
            pass
    return found
