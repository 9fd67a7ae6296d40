"""Reading a registry partition as an operator does: the PID files its
services write, the processes they name, the backups in srv/backup/ and
their status.  (Written from the files' documented form, not from the
release's code: the SlapOS-level suite checks that code from outside.)"""
import json
import os
import re
import sqlite3
import time
import urllib.parse

# a complete backup: srv/backup/<UTC time>[-<counter>]/
BACKUP_NAME = re.compile(r'^(\d{8}T\d{6}Z)(-\d+)?$')


def read_pidfile(path):
    """(PID, arguments or None) of a PID file as re6st-service writes it
    (PID, then its command as JSON); (None, None) without one."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None, None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None, None
    try:
        argv = json.loads(lines[1]) if len(lines) > 1 else None
    except ValueError:
        argv = None
    return pid, argv


def command_line(pid, settle=0.5):
    """The arguments of process `pid` if it runs as this user, else None
    (read again for `settle` seconds while empty: a process just started
    has none until the kernel sets them up)."""
    deadline = time.monotonic() + settle
    try:
        while True:
            if os.stat('/proc/%s' % pid).st_uid != os.geteuid():
                return None
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                args = f.read().decode(errors='replace').split('\0')[:-1]
            if args or time.monotonic() > deadline:
                return args
            time.sleep(0.005)
    except (FileNotFoundError, ProcessLookupError):
        return None


def runs(pid, argv):
    """Whether process `pid` is this user's and runs `argv` (or `argv`
    after the interpreter of a script)."""
    cmdline = command_line(pid)
    return bool(cmdline and argv) and list(argv) in (cmdline, cmdline[1:])


def service_pids(partition_path):
    """{service: PID of its command} from var/run/*.pid: what a restart of
    that service changes, and nothing else does."""
    run = os.path.join(partition_path, 'var', 'run')
    return {name[:-len('.pid')]: read_pidfile(os.path.join(run, name))[0]
            for name in os.listdir(run) if name.endswith('.pid')}


def backup_names(directory):
    """The complete backups in `directory`, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []

    def order(name):
        stamp, counter = BACKUP_NAME.match(name).groups()
        return stamp, int(counter[1:]) if counter else 1
    return sorted((name for name in names if BACKUP_NAME.match(name)
                   and os.path.isdir(os.path.join(directory, name))),
                  key=order)


def backup_status(directory):
    """The backup service's status.json in `directory` ({} without one)."""
    try:
        with open(os.path.join(directory, 'status.json')) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def read_db(path, query, args=()):
    """Rows of `query` on an SQLite database, read-only."""
    db = sqlite3.connect('file:%s?mode=ro' % urllib.parse.quote(path),
                         uri=True, timeout=30)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def main_node_certificate(registry_db):
    """The PEM (bytes) of the registry's main node's certificate (its
    first one: `prefix` of its config table), None before it has one."""
    rows = read_db(registry_db, "SELECT value FROM config WHERE name='prefix'")
    if not rows or not rows[0][0]:
        return None
    rows = read_db(registry_db, 'SELECT cert FROM cert WHERE prefix=?',
                   (rows[0][0],))
    if not rows or not rows[0][0]:
        return None
    pem = rows[0][0]
    return pem if isinstance(pem, bytes) else pem.encode()
