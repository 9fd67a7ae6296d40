"""One backup now (re6st-backup, and the service at each period): the
partition's CA files and databases, consistently, into a new backup
directory; then the copy in backup-repository and the removal of all but
the last `keep`."""
import logging
import os
import shutil
import sqlite3
import time
import urllib.parse

from ..lib import ca, files
from . import push
from .directory import (
    CA_CERT, MANIFEST, PARTIAL, REMOVING, BackupError, Lock, backup_names,
    ca_files, databases, host_node_files, new_name, read_status,
    remove_leftovers, utc,
    write_json, write_status)

log = logging.getLogger('re6st-backup')


def connect_existing(path, **kw):
    """A connection to the sqlite database at `path`, which must exist
    (sqlite would create an empty one)."""
    return sqlite3.connect('file:%s?mode=rw' % urllib.parse.quote(path),
                           uri=True, **kw)


def copy_database(source, target):
    """Copy the sqlite database `source` (in use) to the new file `target`
    with sqlite's backup API: a consistent state, whatever writes it
    meanwhile.  BackupError when `source` is missing or the copy fails
    sqlite's own check."""
    if not os.path.exists(source):
        raise BackupError('The database %s does not exist: has its service'
                          ' ever started?' % source)
    # created 0600: the databases hold tokens
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = connect_existing(source, timeout=60)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
                check, = dst.execute('PRAGMA quick_check').fetchone()
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        raise BackupError('Copying the database %s failed: %s.'
                          % (source, e))
    if check != 'ok':
        raise BackupError('The copy of the database %s fails sqlite\'s'
                          ' check (%s): is the database damaged?'
                          % (source, check))
    with open(target, 'rb') as f:
        os.fsync(f.fileno())


def snapshot(config, directory, name, missing_ok=False):
    """Write the partition's CA files and databases into the new directory
    <directory>/<name>, which appears whole or not at all.  `missing_ok`:
    what does not exist is left out (a copy of what a restore replaces).
    Returns its path."""
    target = os.path.join(directory, name)
    partial = os.path.join(directory, PARTIAL + name)
    os.mkdir(partial, 0o700)
    try:
        manifest = {'format': 1, 'time': utc(time.time()), 'files': {}}
        for member, path, mode in ca_files(config):
            data = files.read(path, binary=True)
            if data is None:
                if missing_ok:
                    continue
                raise BackupError('The CA file %s is missing: restore it'
                                  ' from a backup.' % path)
            files.write(os.path.join(partial, member), data, mode,
                        exclusive=True)
            if member == CA_CERT:
                manifest.update(ca.summary(ca.load_certificate(path)))
        for member, path, mode in host_node_files(config):
            data = files.read(path, binary=True)
            if data is not None:
                files.write(os.path.join(partial, member), data, mode,
                            exclusive=True)
        for member, path in databases(config):
            if missing_ok and not os.path.exists(path):
                continue
            copy_database(path, os.path.join(partial, member))
        for member in sorted(os.listdir(partial)):
            manifest['files'][member] = files.sha256(
                os.path.join(partial, member))
        write_json(os.path.join(partial, MANIFEST), manifest)
        files.fsync_directory(partial)
        os.rename(partial, target)
        files.fsync_directory(directory)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def prune(directory, keep, new):
    """Remove all but the last `keep` backups, never the `new` one (whose
    name may sort first if the clock went back); returns their names."""
    names = [name for name in backup_names(directory) if name != new]
    removed = names[:max(0, len(names) - (keep - 1))]
    for name in removed:
        # renamed first: a half-removed backup never looks like one
        trash = os.path.join(directory, REMOVING + name)
        os.rename(os.path.join(directory, name), trash)
        shutil.rmtree(trash)
    return removed


def backup(config, push_now=True):
    """Make one backup now, keep the last `keep`, commit it to the
    partition's repository and (if `push_now`: the service pushes from a
    thread of its own) push it to backup-repository if there is one,
    record the outcome in the status file.  Returns the backup's path;
    BackupError (recorded too) when it fails.  A failed push does not fail
    the backup: it is recorded in the status file (push-error)."""
    directory = config['directory']
    owner = os.stat(directory).st_uid if os.path.isdir(directory) else None
    if owner not in (None, os.geteuid()):
        raise BackupError(
            "Run re6st-backup as the partition's user (uid %s), not uid %s:"
            ' the backups and their status must stay theirs.'
            % (owner, os.geteuid()))
    with Lock(directory):
        now = time.time()
        status = read_status(directory)
        status['last-attempt'] = utc(now)
        try:
            remove_leftovers(directory)
            path = snapshot(config, directory, new_name(directory, '', now))
        except (BackupError, OSError, sqlite3.Error, ValueError) as e:
            error = str(e) if isinstance(e, BackupError) else (
                'The backup into %s failed: %s.' % (directory, e))
            status.update({'last-error': error, 'last-error-time': utc(now)})
            write_status(directory, status)
            raise BackupError(error)
        status.update({'last-success': utc(now),
                       'last-backup': os.path.basename(path),
                       'last-error': None, 'last-error-time': None})
        write_status(directory, status)
        error = push.record(config, status, path)
        write_status(directory, status)
        if error:
            log.error('%s', error)
        try:
            for name in prune(directory, config['keep'],
                              os.path.basename(path)):
                log.info('removed the old backup %s', name)
        except OSError as e:  # the backup itself is done
            log.error('removing old backups from %s failed: %s',
                      directory, e)
    if push_now and not error:
        error = push.catch_up(config)
        if error:
            log.error('%s', error)
    return path
