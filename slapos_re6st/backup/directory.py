"""The backup directory of a partition (srv/backup): the names of its
backups, its lock, its status file and the time of the first deployment;
and re6st-backup's configuration (etc/re6st-backup.json, written by the
backup recipe), which names every path."""
import datetime
import fcntl
import json
import os
import re
import shutil
import stat
import time

from ..lib import files

# Names inside a backup.
REGISTRY_DB = 'registry.db'
TOKENS_DB = 'tokens.db'
CA_KEY = 'ca.key'
CA_CERT = 'ca.crt'
DH = 'dh.pem'
# the registry's own node: its key and certificate (the registry's main
# node is the owner of its first certificate: lost, it is lost for good)
HOST_NODE_KEY = 'host-node.key'
HOST_NODE_CERT = 'host-node.crt'
MANIFEST = 'manifest.json'
# Names inside the backup directory.
STATUS = 'status.json'
DEPLOYED = 'deployed'
LOCK = '.lock'
PARTIAL = '.partial-'
REMOVING = '.removing-'
BEFORE_RESTORE = 'before-restore-'
# A backup's name: the UTC time it was started at (and a counter when two
# start within the same second).
NAME = re.compile(r'^(\d{8}T\d{6}Z)(-\d+)?$')
TIME_FORMAT = '%Y%m%dT%H%M%SZ'
ISO_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


class BackupError(Exception):
    """What went wrong, as a sentence for the operator."""


def load_config(path):
    with open(path) as f:
        return json.load(f)


def ca_files(config):
    """[(name in a backup, path in the partition, mode)] of the CA files."""
    return [(CA_KEY, config['ca-key'], 0o600),
            (CA_CERT, config['ca-cert'], 0o644),
            (DH, config['dh'], 0o644)]


def host_node_files(config):
    """The same for the host node's key and certificate, when the
    configuration names them (they may not exist: before the registry's
    first start, or in a backup made before the release had them)."""
    return [(member, config[key], mode) for member, key, mode in (
        (HOST_NODE_KEY, 'host-node-key', 0o600),
        (HOST_NODE_CERT, 'host-node-cert', 0o644)) if config.get(key)]


def databases(config):
    """[(name in a backup, path in the partition)]."""
    return [(REGISTRY_DB, config['registry-db']),
            (TOKENS_DB, config['tokens-db'])]


def utc(timestamp):
    return time.strftime(ISO_FORMAT, time.gmtime(timestamp))


def parse_utc(text):
    return datetime.datetime.strptime(text, ISO_FORMAT).replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Lock:
    """One backup (or restore) at a time in a backup directory."""

    def __init__(self, directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.path = os.path.join(directory, LOCK)

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock


def backup_names(directory):
    """The complete backups of `directory`, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted((name for name in names if NAME.match(name)
                   and os.path.isdir(os.path.join(directory, name))),
                  key=_order)


def _order(name):
    stamp, counter = NAME.match(name).groups()
    return stamp, int(counter[1:]) if counter else 1


def backup_time(name):
    """When the backup `name` was started (a POSIX timestamp)."""
    return datetime.datetime.strptime(
        NAME.match(name).group(1), TIME_FORMAT).replace(
            tzinfo=datetime.timezone.utc).timestamp()


def new_name(directory, prefix, now):
    """A name not taken yet in `directory`: prefix + the UTC time, and a
    counter above those of the same second (some may be removed already:
    a later backup must never get an earlier name)."""
    base = prefix + time.strftime(TIME_FORMAT, time.gmtime(now))
    taken = [name[len(PARTIAL):] if name.startswith(PARTIAL) else name
             for name in os.listdir(directory)]
    counters = [1 if name == base else int(name[len(base) + 1:])
                for name in taken if name == base or (
                    name.startswith(base + '-')
                    and name[len(base) + 1:].isdigit())]
    if not counters:
        return base
    return '%s-%s' % (base, max(counters) + 1)


def remove_leftovers(directory):
    """What interrupted backups and removals left (call it locked)."""
    for name in os.listdir(directory):
        if name.startswith((PARTIAL, REMOVING)):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def read_status(directory):
    try:
        return json.loads(files.read(os.path.join(directory, STATUS), '{}'))
    except ValueError:
        return {}


def write_status(directory, status):
    write_json(os.path.join(directory, STATUS), status)


def write_json(path, value, mode=0o600):
    files.write(path, json.dumps(value, indent=2, sort_keys=True) + '\n',
                mode)


def record_deployment(directory):
    """Note when the partition was first deployed, once; the backup
    directory is for the partition's user only."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if stat.S_IMODE(os.stat(directory).st_mode) != 0o700:
        os.chmod(directory, 0o700)
    path = os.path.join(directory, DEPLOYED)
    if not os.path.exists(path):
        files.write(path, utc(time.time()) + '\n')


def deployed(directory):
    """When the partition was first deployed (a POSIX timestamp); None if
    that is not known."""
    try:
        return parse_utc(files.read(os.path.join(directory, DEPLOYED),
                                    '').strip())
    except ValueError:
        return None
