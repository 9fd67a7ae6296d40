"""The PID files of the partition's services: re6st-service writes the PID
of the command it runs in var/run/<service>.pid, and the command's
arguments on a second line (JSON); other programs (log rotation, restore,
a new launcher) signal that process, once sure it still runs that
command (a PID can be reused)."""
import ctypes
import json
import os
import signal
import time

from . import files
from .wait import wait_for

PR_SET_PDEATHSIG = 1


def write_pidfile(path, pid, argv=None, started_with=None):
    """The PID file of process `pid`: its arguments `argv` on the second
    line, and on the third `started_with`, the sha256 of each file it was
    started with ({path: hex digest or None for a missing file})."""
    lines = ['%s' % pid]
    if argv:
        lines.append(json.dumps(list(argv)))
        if started_with is not None:
            lines.append(json.dumps(started_with, sort_keys=True))
    files.write(path, ''.join(line + '\n' for line in lines))


def started_with(path):
    """What the process of the PID file at `path` was started with (see
    write_pidfile); None when the file does not say."""
    lines = files.read(path, '').splitlines()
    try:
        return json.loads(lines[2])
    except (IndexError, ValueError):
        return None


def read_pidfile(path):
    """(PID, arguments or None) of the PID file at `path`; (None, None)
    without one."""
    lines = files.read(path, '').splitlines()
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None, None
    try:
        argv = json.loads(lines[1]) if len(lines) > 1 else None
    except ValueError:
        argv = None
    return pid, argv


def runs(pid, argv):
    """Whether process `pid` is this user's and runs `argv`: its arguments
    are those, or those after an interpreter (a script is run by the
    interpreter its first line names)."""
    cmdline = command_line(pid)
    return bool(cmdline and argv) and list(argv) in (cmdline, cmdline[1:])


def process_of(pidfile):
    """The PID in `pidfile` if it is a running process of this user that
    runs the command the file names (or, in a PID file without it, whose
    command is named like the file: var/run/re6st-registry.pid,
    re6st-registry); None otherwise (no file, a stale PID, a PID reused
    by another program)."""
    pid, argv = read_pidfile(pidfile)
    if pid is None:
        return None
    if argv:
        return pid if runs(pid, argv) else None
    name = os.path.basename(pidfile)
    if name.endswith('.pid'):
        name = name[:-len('.pid')]
    args = command_line(pid)
    if not args or not any(os.path.basename(arg) == name for arg in args):
        return None
    return pid


def die_with_parent(signum=signal.SIGTERM):
    """Have the calling process sent `signum` when its parent dies, even
    by SIGKILL (Linux's PR_SET_PDEATHSIG, kept across exec): a service
    never outlives what supervises it.  False where it is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


# how long an empty command line is read again: a process that has just
# been started shows one between the end of its parent's wait for the exec
# (subprocess.Popen returns then) and the kernel's setting up of its
# arguments
EXEC_SETTLE = 0.5


def command_line(pid):
    """The arguments of process `pid` if it runs as this user; None."""
    deadline = time.monotonic() + EXEC_SETTLE
    try:
        while True:
            if os.stat('/proc/%s' % pid).st_uid != os.geteuid():
                return None
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                args = f.read().decode(errors='replace').split('\0')[:-1]
            # (a zombie's is empty for good)
            if args or time.monotonic() > deadline or state(pid) == 'Z':
                return args
            time.sleep(0.005)
    except (FileNotFoundError, ProcessLookupError):
        return None


def state(pid):
    """The state letter of process `pid` (R, S, Z...)."""
    with open('/proc/%s/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0]


def stop_stale(pidfile, command, timeout=30):
    """Stop the process of `pidfile` if it still runs `command` (a
    launcher killed before it could stop it): SIGTERM, then SIGKILL after
    `timeout` seconds.  Returns its PID, or None if there was none."""
    pid, _ = read_pidfile(pidfile)
    if pid is None or pid == os.getpid() or not runs(pid, command):
        return None
    for signum in signal.SIGTERM, signal.SIGKILL:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return pid
        if wait_for(lambda: not runs(pid, command), timeout, 0.1):
            return pid
    return pid
