"""re6st-backup: consistent online backups of the registry, and the
rotation of its log.

    re6st-backup CONFIG           one backup, now (bin/re6st-backup of the
                                  partition runs this)
    re6st-backup --loop CONFIG    the partition's service: a backup at start,
                                  then one every `period` seconds; the
                                  registry's log rotated on the way

A backup is a directory <directory>/<UTC time, like 20250102T030405Z>/ with
the registry's database and the token manager's (copied with sqlite's
backup API, never as files: both are in use), the CA key (mode 0600), the
CA certificate, the DH file and manifest.json (what each file's sha256 is,
the CA's fingerprint and network).  It is written under a temporary name
(.partial-...) and renamed once complete: a directory with a backup's name
is a whole backup.  The last `keep` are kept.  One backup at a time
(<directory>/.lock), which re6st-restore takes too.

With backup-repository set (the URL in the file `repository-file`), each
backup is also committed to the partition's git repository
(<directory>/repository.git) and pushed there (see repository.py); a
failed push is tried again every minute, without a new backup, and a
repository newly set gets the newest backup within a minute.

<directory>/status.json tells the last attempt: when the last backup
succeeded, and the error of the last attempt if it failed; the same for
the last push.  The partition's
promise reads it (backup_health), with <directory>/deployed, the time of
the first deployment, which gives a new partition two periods to make its
first backup.

CONFIG is the JSON file that the slapos_re6st:backup recipe writes (see
Recipe).  This module imports nothing but the standard library at its top:
the promise plugin imports it in slapos node's own Python.
"""
import argparse
import datetime
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import stat
import sys
import time
import urllib.parse

from . import repository

log = logging.getLogger('re6st-backup')

# Names inside a backup.
REGISTRY_DB = 'registry.db'
TOKENS_DB = 'tokens.db'
CA_KEY = 'ca.key'
CA_CERT = 'ca.crt'
DH = 'dh.pem'
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
# The loop: after a failure, try again this much later (not a period).
RETRY_DELAY = 60
# ... checks the registry's log this often.
ROTATE_CHECK = 60
# ... waits at most this long for the databases at its start (a new
# partition's services start together).
START_WAIT = 300


class BackupError(Exception):
    """What went wrong, as a sentence for the operator."""


# -- what the configuration names -----------------------------------------

def load_config(path):
    with open(path) as f:
        return json.load(f)


def files(config):
    """[(name in a backup, path in the partition, mode)] of the CA files."""
    return [(CA_KEY, config['ca-key'], 0o600),
            (CA_CERT, config['ca-cert'], 0o644),
            (DH, config['dh'], 0o644)]


def databases(config):
    """[(name in a backup, path in the partition)]."""
    return [(REGISTRY_DB, config['registry-db']),
            (TOKENS_DB, config['tokens-db'])]


# -- small tools --------------------------------------------------------------

def utc(timestamp):
    return time.strftime(ISO_FORMAT, time.gmtime(timestamp))


def parse_utc(text):
    return datetime.datetime.strptime(text, ISO_FORMAT).replace(
        tzinfo=datetime.timezone.utc).timestamp()


def duration(seconds):
    """Seconds as people read them: 90 s, 3.5 h, 2.0 days."""
    seconds = int(seconds)
    if seconds < 120:
        return '%s s' % seconds
    if seconds < 7200:
        return '%s min' % (seconds // 60)
    if seconds < 2 * 86400:
        return '%.1f h' % (seconds / 3600)
    return '%.1f days' % (seconds / 86400)


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data, mode):
    """Write a new file with `mode` (never another mode, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, 'wb') as f:
        os.fchmod(f.fileno(), mode)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_file(path, data, mode):
    """Replace `path` by `data` at once, with `mode`."""
    tmp = '%s.%s.tmp' % (path, os.getpid())
    try:
        write_file(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def write_json(path, value, mode=0o600):
    replace_file(path, (json.dumps(value, indent=2, sort_keys=True)
                        + '\n').encode(), mode)


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


def ca_summary(cert_path):
    """{ca-fingerprint, ipv6-prefix, not-after} of a CA certificate."""
    # imported here: the promise plugin imports this module without them
    from cryptography import x509
    from .ca import fingerprint, serial_prefix
    with open(cert_path, 'rb') as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return {'ca-fingerprint': fingerprint(cert),
            'ipv6-prefix': str(serial_prefix(cert.serial_number)),
            'not-after': cert.not_valid_after_utc.strftime(ISO_FORMAT)}


# -- backups ---------------------------------------------------------------

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
        for member, path, mode in files(config):
            try:
                with open(path, 'rb') as f:
                    data = f.read()
            except FileNotFoundError:
                if missing_ok:
                    continue
                raise BackupError('The CA file %s is missing: restore it'
                                  ' from a backup.' % path)
            write_file(os.path.join(partial, member), data, mode)
            if member == CA_CERT:
                manifest.update(ca_summary(path))
        for member, path in databases(config):
            if missing_ok and not os.path.exists(path):
                continue
            copy_database(path, os.path.join(partial, member))
        for member in sorted(os.listdir(partial)):
            manifest['files'][member] = sha256(os.path.join(partial, member))
        write_file(os.path.join(partial, MANIFEST),
                   (json.dumps(manifest, indent=2, sort_keys=True)
                    + '\n').encode(), 0o600)
        fsync_directory(partial)
        os.rename(partial, target)
        fsync_directory(directory)
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


def read_status(directory):
    try:
        with open(os.path.join(directory, STATUS)) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


# -- the copy in backup-repository ----------------------------------------------

PUSH_KEYS = ('last-push', 'last-push-commit', 'push-error', 'push-error-time',
             'pushed-to', 'last-recorded-backup')


def repository_url(config):
    """backup-repository as the partition's recipe wrote it ('': none)."""
    path = config.get('repository-file')
    return repository.read_url(path) if path else ''


def commit_message(backup_path):
    with open(os.path.join(backup_path, MANIFEST)) as f:
        manifest = json.load(f)
    return ('re6st registry backup %s\n\nnetwork: %s\nCA: %s\nCA valid'
            ' until: %s\n' % (os.path.basename(backup_path),
                              manifest.get('ipv6-prefix'),
                              manifest.get('ca-fingerprint'),
                              manifest.get('not-after')))


def push(config, status, backup_path=None):
    """Commit the backup at `backup_path` (if given) to the partition's
    repository and push it to backup-repository (call it locked).  The
    outcome goes into `status` (not written); returns the error sentence,
    None when pushed or when there is no backup-repository."""
    url = repository_url(config)
    if not url:
        for key in PUSH_KEYS:
            status.pop(key, None)
        return None
    now = time.time()
    try:
        remote = repository.parse(url)
        repo = repository.Repository(
            config['repository-dir'], remote, git=config.get('git') or 'git',
            ssh_key=config.get('ssh-key'),
            known_hosts=config.get('known-hosts'))
        if backup_path:
            repo.record(backup_path, commit_message(backup_path))
            status['last-recorded-backup'] = os.path.basename(backup_path)
        commit, continued = repo.publish()
    except (ValueError, repository.RepositoryError, OSError) as e:
        error = str(e)
        status.update({'push-error': error, 'push-error-time': utc(now)})
        return error
    if continued:
        log.warning('%s', continued)
    status.update({'last-push': utc(now), 'last-push-commit': commit,
                   'pushed-to': repository.redact(url),
                   'push-error': None, 'push-error-time': None})
    return None


def push_pending(config):
    """Whether backup-repository waits for a push: it failed last time, or
    the repository was set (or changed) since the last push."""
    url = repository_url(config)
    status = read_status(config['directory'])
    return bool(url) and (bool(status.get('push-error'))
                          or status.get('pushed-to') != repository.redact(url))


def catch_up(config):
    """Bring backup-repository up to date without a new backup: commit the
    newest backup if the partition's repository does not have it yet (the
    repository was just set), then push.  Returns the error sentence, or
    None."""
    directory = config['directory']
    with Lock(directory):
        status = read_status(directory)
        names = backup_names(directory)
        newest = None
        if names and status.get('last-recorded-backup') != names[-1]:
            newest = os.path.join(directory, names[-1])
        error = push(config, status, newest)
        write_json(os.path.join(directory, STATUS), status)
        return error


def backup(config):
    """Make one backup now, keep the last `keep`, push it to
    backup-repository if there is one, record the outcome in the status
    file.  Returns the backup's path; BackupError (recorded too) when it
    fails.  A failed push does not fail the backup: it is recorded in the
    status file (push-error)."""
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
            path = snapshot(config, directory,
                            new_name(directory, '', now))
        except (BackupError, OSError, sqlite3.Error, ValueError) as e:
            error = str(e) if isinstance(e, BackupError) else (
                'The backup into %s failed: %s.' % (directory, e))
            status.update({'last-error': error, 'last-error-time': utc(now)})
            write_json(os.path.join(directory, STATUS), status)
            raise BackupError(error)
        status.update({'last-success': utc(now),
                       'last-backup': os.path.basename(path),
                       'last-error': None, 'last-error-time': None})
        write_json(os.path.join(directory, STATUS), status)
        error = push(config, status, path)
        write_json(os.path.join(directory, STATUS), status)
        if error:
            log.error('%s', error)
        try:
            for name in prune(directory, config['keep'],
                              os.path.basename(path)):
                log.info('removed the old backup %s', name)
        except OSError as e:  # the backup itself is done
            log.error('removing old backups from %s failed: %s',
                      directory, e)
        return path


def record_deployment(directory):
    """Note when the partition was first deployed, once; the backup
    directory is for the partition's user only."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if stat.S_IMODE(os.stat(directory).st_mode) != 0o700:
        os.chmod(directory, 0o700)
    path = os.path.join(directory, DEPLOYED)
    if not os.path.exists(path):
        replace_file(path, (utc(time.time()) + '\n').encode(), 0o644)


def backup_health(config):
    """(True, what is fine) or (False, what is wrong and what to do), on
    the real clock: the last attempt failed; the newest backup is older
    than twice the period; there is no backup and the partition was
    deployed more than two periods ago."""
    directory = config['directory']
    period = config['period']
    limit = 2 * period
    command = config.get('command') or 're6st-backup'
    now = time.time()
    status = read_status(directory)
    if status.get('last-error'):
        return False, (
            'The last backup, at %s, failed: %s  Fix it, then run %s (or'
            ' wait for the next attempt of the re6st-backup service).'
            % (status.get('last-error-time'), status['last-error'].rstrip(),
               command))
    if status.get('push-error') and repository_url(config):
        return False, (
            'The backups are made but pushing them to backup-repository'
            ' failed, last at %s: %s  re6st-backup tries again every minute;'
            ' fix it, or run %s.'
            % (status.get('push-error-time'), status['push-error'].rstrip(),
               command))
    names = backup_names(directory)
    if names:
        newest = names[-1]
        age = now - backup_time(newest)
        if age > limit:
            return False, (
                'The newest backup, %s, is %s old, more than twice'
                ' backup-period (%s s): is the re6st-backup service of the'
                ' partition running?  Run %s to make one now.'
                % (os.path.join(directory, newest), duration(age), period,
                   command))
        return True, 'The newest backup, %s, is %s old.' % (
            os.path.join(directory, newest), duration(max(age, 0)))
    try:
        with open(os.path.join(directory, DEPLOYED)) as f:
            deployed = parse_utc(f.read().strip())
    except (FileNotFoundError, ValueError):
        return False, (
            'There is no backup in %s, nor the time of the first deployment'
            ' (%s): run the instance again, then %s.'
            % (directory, os.path.join(directory, DEPLOYED), command))
    age = now - deployed
    if age > limit:
        return False, (
            'There is no backup in %s although the partition was deployed'
            ' at %s, more than twice backup-period (%s s) ago: is the'
            ' re6st-backup service of the partition running?  Run %s to'
            ' make one now.' % (directory, utc(deployed), period, command))
    return True, ('No backup yet: the partition was deployed at %s and the'
                  ' first backup is due by %s.'
                  % (utc(deployed), utc(deployed + limit)))


def health(config_path):
    """backup_health of the configuration at `config_path` (what the
    promise plugin calls)."""
    return backup_health(load_config(config_path))


# -- log rotation -------------------------------------------------------------

def process_of(pidfile):
    """The PID in `pidfile` if it is a running process of this user whose
    command is named like the file (var/run/re6st-registry.pid:
    re6st-registry); None otherwise."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
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


def rotation_due(log_path, stamp_path, max_size, max_age):
    """Whether the log must be rotated: it is not empty and has reached
    `max_size` bytes, or the last rotation (the stamp's mtime) was
    `max_age` seconds ago or more.  A missing stamp starts the count."""
    try:
        size = os.stat(log_path).st_size
    except FileNotFoundError:
        return False
    try:
        rotated = os.stat(stamp_path).st_mtime
    except FileNotFoundError:
        touch(stamp_path)
        rotated = time.time()
    if not size:
        return False
    return size >= max_size or time.time() - rotated >= max_age


def touch(path):
    with open(path, 'a'):
        pass
    os.utime(path)


def rotate(log_path, keep, pidfile, stamp_path):
    """LOG -> LOG.1 -> ... -> LOG.<keep> (the oldest dropped), then SIGUSR1
    to the process of `pidfile` so that it reopens LOG.  Returns a sentence
    when there is no such process (it then writes to LOG.1 until its next
    start)."""
    for n in range(keep - 1, 0, -1):
        older = '%s.%s' % (log_path, n)
        if os.path.exists(older):
            os.replace(older, '%s.%s' % (log_path, n + 1))
    os.replace(log_path, log_path + '.1')
    touch(stamp_path)
    pid = process_of(pidfile)
    if pid is None:
        return ('%s rotated but no running process in %s to reopen it: it'
                ' is reopened at the next start.' % (log_path, pidfile))
    os.kill(pid, signal.SIGUSR1)
    return None


def maybe_rotate(config):
    path = config['registry-log']
    if rotation_due(path, config['log-stamp'], config['log-max-size'],
                    config['log-max-age']):
        warning = rotate(path, config['log-keep'], config['registry-pidfile'],
                         config['log-stamp'])
        if warning:
            log.warning('%s', warning)
        else:
            log.info('%s rotated', path)


# -- the service --------------------------------------------------------------

def wait_for(paths, timeout):
    """Wait until every path exists, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(os.path.exists(p) for p in paths):
            return True
        time.sleep(2)
    return False


def loop(config, iterations=None):
    """A backup at start (once the databases exist: the services of a new
    partition start together), then every period, retrying sooner after a
    failure; the registry's log rotated when due."""
    period = config['period']
    if not wait_for([p for _, p in databases(config)],
                    min(period, START_WAIT)):
        log.warning('the databases do not all exist yet: trying anyway')
    due = time.monotonic()
    push_due = None  # when to try backup-repository again after a failure
    count = 0
    while iterations is None or count < iterations:
        count += 1
        now = time.monotonic()
        if now < due and (now >= push_due if push_due is not None
                          else push_pending(config)):
            try:
                error = catch_up(config)
            except Exception:
                log.exception('pushing to backup-repository failed')
                error = True
            if error:
                if error is not True:
                    log.error('%s', error)
                push_due = time.monotonic() + RETRY_DELAY
            else:
                log.info('backup-repository is up to date')
                push_due = None
        if time.monotonic() >= due:
            try:
                path = backup(config)
            except BackupError as e:
                log.error('%s', e)
                due = time.monotonic() + min(RETRY_DELAY, period)
            except Exception:  # e.g. the status cannot be written
                log.exception('backup failed')
                due = time.monotonic() + min(RETRY_DELAY, period)
            else:
                log.info('backup written: %s', path)
                due = time.monotonic() + period
                push_due = (time.monotonic() + RETRY_DELAY
                            if read_status(config['directory']).get(
                                'push-error') else None)
        try:
            maybe_rotate(config)
        except OSError as e:
            log.error('rotating %s failed: %s', config['registry-log'], e)
        if iterations is None or count < iterations:
            wake = min(due, push_due) if push_due is not None else due
            time.sleep(max(1, min(wake - time.monotonic(), ROTATE_CHECK)))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-backup',
        description='Back up the re6st registry of a partition (databases'
        ' with sqlite\'s backup API, CA key and certificate, DH file) into'
        ' its backup directory, keeping the last ones.')
    parser.add_argument('config', help="the partition's backup"
                        ' configuration (etc/re6st-backup.json)')
    parser.add_argument('--loop', action='store_true',
                        help='run as the service: a backup now, then one'
                        ' every period, and the rotation of the registry\'s'
                        ' log')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(message)s')
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as e:
        print('re6st-backup: cannot read %s: %s' % (args.config, e),
              file=sys.stderr)
        return 1
    if args.loop:
        loop(config)
        return 0
    try:
        path = backup(config)
    except (BackupError, OSError) as e:
        print('re6st-backup: %s' % e, file=sys.stderr)
        return 1
    print(path)
    error = read_status(config['directory']).get('push-error')
    if error:
        print('re6st-backup: the backup is written, but %s%s' % (
            error[0].lower(), error[1:]), file=sys.stderr)
        return 1
    return 0


class Recipe:
    """Writes the configuration of re6st-backup (config-file, JSON) and
    notes the first deployment (<directory>/deployed).  The backups
    themselves are never handed to buildout.

    Options: config-file, directory, registry-db, tokens-db, ca-key,
    ca-cert, dh, ipv6-prefix, key-size, period, keep, command (the
    partition's bin/re6st-backup, named in sentences), registry-log,
    registry-pidfile, tokens-pidfile, log-stamp, log-keep, log-max-size,
    log-max-age.

    The copy in backup-repository: repository (the parameter as the
    parameters recipe sets it: slapconfiguration.SECRET_MARKER or empty;
    the URL itself comes from this run's slap-configuration and goes into
    repository-file, mode 0600, never into an option), repository-dir
    (the partition's git repository), ssh-key (the partition's ssh key,
    created once; sets ssh-public-key), known-hosts."""

    PATHS = ('directory', 'registry-db', 'tokens-db', 'ca-key', 'ca-cert',
             'dh', 'ipv6-prefix', 'command', 'registry-log',
             'registry-pidfile', 'tokens-pidfile', 'log-stamp')
    NUMBERS = ('key-size', 'period', 'keep', 'log-keep', 'log-max-size',
               'log-max-age')

    def __init__(self, buildout, name, options):
        import zc.buildout
        missing = [k for k in ('config-file',) + self.PATHS + self.NUMBERS
                   if not options.get(k)]
        if missing:
            raise zc.buildout.UserError('[%s] needs the options %s.'
                                        % (name, ', '.join(missing)))
        config = {k: options[k] for k in self.PATHS}
        for key in self.NUMBERS:
            try:
                config[key] = int(options[key])
            except ValueError:
                config[key] = 0
            if config[key] < 1:
                raise zc.buildout.UserError(
                    '[%s] %s must be a positive whole number, not %r.'
                    % (name, key, options[key]))
        self.url = ''
        if options.get('repository'):
            from . import slapconfiguration
            self.url = slapconfiguration.secret(buildout, 'backup-repository')
            if self.url is None:
                raise zc.buildout.UserError(
                    '[%s] backup-repository is set but this buildout run did'
                    ' not read it: run the whole instance profile.' % name)
            missing = [k for k in ('repository-file', 'repository-dir')
                       if not options.get(k)]
            if missing:
                raise zc.buildout.UserError('[%s] needs the options %s.'
                                            % (name, ', '.join(missing)))
        for key in ('repository-file', 'repository-dir', 'ssh-key',
                    'known-hosts'):
            if options.get(key):
                config[key] = options[key]
        config['git'] = shutil.which('git') or ''
        if options.get('ssh-key'):
            import socket
            options['ssh-public-key'] = repository.ensure_ssh_key(
                options['ssh-key'], 're6st-backup@%s' % socket.gethostname())
        self.options = options
        self.text = json.dumps(config, indent=2, sort_keys=True) + '\n'

    def install(self):
        from .registry import write_if_changed
        record_deployment(self.options['directory'])
        write_if_changed(self.options['config-file'], self.text)
        installed = [self.options['config-file']]
        if self.options.get('repository-file'):
            # the URL may hold a password: the partition's user only
            write_if_changed(self.options['repository-file'],
                             self.url + '\n' if self.url else '', 0o600)
            installed.append(self.options['repository-file'])
        return installed

    update = install


if __name__ == '__main__':
    sys.exit(main())
