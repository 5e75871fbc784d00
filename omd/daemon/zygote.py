"""The zygote: one interpreter that imports every subsystem once, then forks their processes.

A subsystem started as a fresh interpreter spends 0.3-0.6 s of CPU importing the same modules
as the others (msgspec, zmq, structlog, aiohttp, omd); a daemon start costs ~3.7 s of CPU on
its eight interpreters, and the daemon shares its two cores with the services it watches. The
zygote is started by the supervisor as `python -P -m omd.daemon.zygote` (a fresh interpreter,
its own process group, SIGTERM when the supervisor dies), imports `omd.daemon.runner` and the
module of every subsystem kind, and then only forks. It never creates a zmq context, an event
loop or a thread, so each fork starts from a state a fresh interpreter would reach by importing
the same modules; the child then runs `omd.daemon.runner.main`, exactly as
`python -m omd.daemon.runner` would. The pages the children share stay shared (copy on write),
which is most of the daemon's memory.

Children are the supervisor's, not the zygote's: the supervisor is a child subreaper
(PR_SET_CHILD_SUBREAPER) and the zygote double-forks, so the subsystem is re-parented to the
supervisor, which waits for it, signals it and sees its exit status as for any child. The
zygote's death therefore kills no subsystem; the supervisor then starts the next ones as fresh
interpreters (`Zygote.spawn` raises `ZygoteError` and the caller falls back to `Popen`).

Protocol, on a SOCK_SEQPACKET socket pair: the zygote sends `ready` once it has imported; each
request is one JSON message {instance, root, parent} with the readiness pipe's and the config
memfd's write ends as SCM_RIGHTS; the answer is {"pid": N} or {"error": "..."}.
"""

from __future__ import annotations

import array
import ctypes
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
_MAX_MSG = 65536


class ZygoteError(RuntimeError):
    """The zygote cannot fork this child (dead, not ready, or the fork failed)."""


def set_child_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (the zygote's grandchildren)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ForkedProcess:
    """A subsystem process forked by the zygote: the subset of `subprocess.Popen` we use.

    It is our child (see the module docstring), so `waitpid` on its pid works as for Popen.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: nothing more can be known
                self.returncode = 255
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The supervisor's handle on its zygote process."""

    def __init__(self, root: str, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.ready = False

    def start(self) -> None:
        """Start the zygote process; `wait_ready` says when it has imported."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "omd.daemon.zygote", "--root", self.root,
                 "--parent", str(os.getpid()), "--fd", str(theirs.fileno())],
                env=self.env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), process_group=0)
        finally:
            theirs.close()
        self.sock = ours

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.sock is not None

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` for the zygote's `ready`; False if it is not (then stop it)."""
        if self.ready:
            return True
        if not self.alive():
            return False
        assert self.sock is not None
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if readable:
            try:
                msg = self.sock.recv(_MAX_MSG)
            except OSError:
                msg = b""
            self.ready = msg == b"ready"
        if not self.ready:
            self.close()
        return self.ready

    def spawn(self, instance: str, fds: tuple[int, int], timeout: float = 10.0) -> ForkedProcess:
        """Fork subsystem `instance` with (readiness write end, config fd); its process."""
        if not self.ready or not self.alive():
            raise ZygoteError("the zygote is not running")
        assert self.sock is not None
        request = json.dumps({"instance": instance, "root": self.root, "parent": os.getpid()}).encode()
        try:
            self.sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
            readable, _, _ = select.select([self.sock], [], [], timeout)
            answer = self.sock.recv(_MAX_MSG) if readable else b""
        except OSError as exc:
            self.close()
            raise ZygoteError(f"the zygote does not answer: {exc}") from exc
        if not answer:
            self.close()
            raise ZygoteError("the zygote did not answer")
        try:
            reply = json.loads(answer)
            return ForkedProcess(int(reply["pid"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ZygoteError(f"the zygote could not fork {instance}: {reply.get('error', answer)!r}"
                              if isinstance(reply, dict) else str(exc)) from exc

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def close(self) -> None:
        """Stop the zygote (its children are not its own: they keep running)."""
        self.ready = False
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------ the zygote process


def _preload() -> None:
    from omd.daemon import registry, runner  # noqa: F401  (imported for the children)

    for kind in registry.KINDS.values():
        importlib.import_module(kind.module)


def _child(sock: socket.socket, instance: str, root: str, parent: int, fds: list[int]) -> None:
    """In the grandchild: become the subsystem process (never returns)."""
    rc = 1
    try:
        sock.close()
        os.setpgid(0, 0)  # its own process group, as the supervisor's Popen would make it
        try:  # `ps -o comm`, top and pgrep name the subsystem (the cmdline is the zygote's)
            ctypes.CDLL(None).prctl(PR_SET_NAME, f"omd-{instance}"[:15].encode(), 0, 0, 0)
        except (OSError, AttributeError):
            pass
        deadline = time.monotonic() + 5
        while os.getppid() != parent and time.monotonic() < deadline:
            time.sleep(0.001)  # until the intermediate process has exited and we are re-parented
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import random

        random.seed()  # a fresh interpreter would not share its parent's random state
        from omd.daemon import readiness, runner

        ready_fd, config_fd = fds
        os.environ[readiness.READY_FD_ENV] = str(ready_fd)
        rc = runner.main([instance, "--root", root, "--parent", str(parent), "--config-fd", str(config_fd)])
    except SystemExit as exc:
        code = exc.code
        rc = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except KeyboardInterrupt:
        rc = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        rc = 1
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)


def _fork(sock: socket.socket, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
    """Double-fork the subsystem; the answer for the supervisor."""
    instance, root, parent = str(request["instance"]), str(request["root"]), int(request["parent"])
    pid_r, pid_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(pid_r)
            grandchild = os.fork()
            if grandchild == 0:
                os.close(pid_w)
                _child(sock, instance, root, parent, fds)
            os.write(pid_w, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(pid_w)
    try:
        with os.fdopen(pid_r, "rb") as f:
            data = f.read()
    finally:
        os.waitpid(middle, 0)
    if not data.isdigit():
        return {"error": "fork failed"}
    return {"pid": int(data)}


def serve(sock: socket.socket, parent: int) -> int:
    """The zygote's loop: answer fork requests until the supervisor closes the socket."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor alone stops us
    _preload()
    import gc

    gc.freeze()  # the children's collections then leave the preloaded objects' pages shared
    sock.send(b"ready")
    fd_size = array.array("i").itemsize
    while True:
        try:
            msg, ancdata, _, _ = sock.recvmsg(_MAX_MSG, socket.CMSG_SPACE(8 * fd_size))
        except InterruptedError:
            continue
        if not msg:
            return 0
        fds: list[int] = []
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(data[: len(data) - (len(data) % fd_size)])
                fds.extend(arr)
        try:
            request = json.loads(msg)
            answer = _fork(sock, request, fds) if len(fds) == 2 else {"error": f"{len(fds)} descriptors, want 2"}
        except (ValueError, KeyError, TypeError, OSError) as exc:
            answer = {"error": str(exc)}
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(json.dumps(answer).encode())


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="omd.daemon.zygote")
    parser.add_argument("--root", required=True)  # only to show in ps which daemon it serves
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    try:
        return serve(sock, args.parent)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
