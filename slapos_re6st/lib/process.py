"""The PID files of the partition's services: re6st-service writes the PID
of the command it runs in var/run/<service>.pid; other programs (log
rotation, restore) signal that process."""
import os

from . import files


def write_pidfile(path, pid):
    files.write(path, '%s\n' % pid)


def process_of(pidfile):
    """The PID in `pidfile` if it is a running process of this user whose
    command is named like the file (var/run/re6st-registry.pid:
    re6st-registry); None otherwise (no file, a stale PID, a PID reused
    by another program)."""
    try:
        pid = int(files.read(pidfile, '').strip())
    except ValueError:
        return None
    name = os.path.basename(pidfile)
    if name.endswith('.pid'):
        name = name[:-len('.pid')]
    try:
        if os.stat('/proc/%s' % pid).st_uid != os.geteuid():
            return None
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            args = f.read().decode(errors='replace').split('\0')
    except FileNotFoundError:
        return None
    if not any(os.path.basename(arg) == name for arg in args):
        return None
    return pid
