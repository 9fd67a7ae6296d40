"""Each backup committed to the partition's git repository (record, at
once, local) and pushed to backup-repository (catch_up, the URL in the
file `repository-file`, written by the backup recipe), never holding the
backup directory's lock while it talks to the remote: a remote that
stalls delays no backup (the service pushes from a thread of its own, the
Pusher).  The push in progress is in the status (push-started, while
PUSH_LOCK is held); a failed one too (push-error): it never fails the
backup, and is tried again without a new backup; a repository newly set
gets the newest backup the same way."""
import fcntl
import json
import logging
import os
import threading
import time

from ..lib import remote
from .directory import (
    MANIFEST, Lock, backup_names, read_status, utc, write_status)
from .repository import STALL_TIME, Repository, RepositoryError

log = logging.getLogger('re6st-backup')

PUSH_KEYS = ('last-push', 'last-push-commit', 'push-error', 'push-error-time',
             'pushed-to', 'last-recorded-backup', 'push-started')
# Held by whoever pushes, in the backup directory: one push at a time.
PUSH_LOCK = '.push-lock'


def repository_url(config):
    """backup-repository as the partition's recipe wrote it ('': none)."""
    path = config.get('repository-file')
    return remote.read_url(path) if path else ''


def commit_message(backup_path):
    with open(os.path.join(backup_path, MANIFEST)) as f:
        manifest = json.load(f)
    return ('re6st registry backup %s\n\nnetwork: %s\nCA: %s\nCA valid'
            ' until: %s\n' % (os.path.basename(backup_path),
                              manifest.get('ipv6-prefix'),
                              manifest.get('ca-fingerprint'),
                              manifest.get('not-after')))


def repository(config, url):
    return Repository(
        config['repository-dir'], remote.parse(url),
        git=config.get('git') or 'git', ssh_key=config.get('ssh-key'),
        known_hosts=config.get('known-hosts'),
        stall_time=config.get('stall-time') or STALL_TIME)


def record(config, status, backup_path):
    """Commit the backup at `backup_path` to the partition's repository
    (local: call it with the backup directory locked), when there is a
    backup-repository.  A failure goes into `status` (not written) as a
    push error; returns its sentence, or None."""
    url = repository_url(config)
    if not url:
        for key in PUSH_KEYS:
            status.pop(key, None)
        return None
    try:
        repository(config, url).record(backup_path,
                                       commit_message(backup_path))
    except (ValueError, RepositoryError, OSError) as e:
        error = str(e)
        status.update({'push-error': error, 'push-error-time': utc(
            time.time())})
        return error
    status['last-recorded-backup'] = os.path.basename(backup_path)
    return None


def publish(config, url):
    """Push the partition's repository to `url` (no lock held: it may take
    minutes); returns the status keys it changes."""
    now = time.time()
    try:
        commit, continued = repository(config, url).publish()
    except (ValueError, RepositoryError, OSError) as e:
        return {'push-error': str(e), 'push-error-time': utc(now)}
    if continued:
        log.warning('%s', continued)
    return {'last-push': utc(now), 'last-push-commit': commit,
            'pushed-to': remote.redact(url), 'push-error': None,
            'push-error-time': None}


class PushLock:
    """One push at a time (the service's and the operator's command)."""

    def __init__(self, directory):
        self.path = os.path.join(directory, PUSH_LOCK)

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def pushing(directory):
    """Whether a push holds PUSH_LOCK now (push-started may be left by a
    process that died)."""
    try:
        fd = os.open(os.path.join(directory, PUSH_LOCK), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def push_pending(config):
    """Whether backup-repository waits for a push: it failed last time, or
    the repository was set (or changed) since the last push."""
    url = repository_url(config)
    status = read_status(config['directory'])
    return bool(url) and (bool(status.get('push-error'))
                          or status.get('pushed-to') != remote.redact(url))


def catch_up(config):
    """Bring backup-repository up to date without a new backup: commit the
    newest backup if the partition's repository does not have it yet (the
    repository was just set), then push (PUSH_LOCK held, the backup
    directory's lock only to read and write the status).  Returns the
    error sentence, or None."""
    directory = config['directory']
    with PushLock(directory):
        with Lock(directory):
            status = read_status(directory)
            url = repository_url(config)
            error = None
            names = backup_names(directory)
            if url and names and (
                    status.get('last-recorded-backup') != names[-1]):
                error = record(config, status, os.path.join(
                    directory, names[-1]))
            elif not url:
                for key in PUSH_KEYS:
                    status.pop(key, None)
            if url and not error:
                status['push-started'] = utc(time.time())
            write_status(directory, status)
        if not url or error:
            return error
        changes = {}
        try:
            changes = publish(config, url)
        finally:
            with Lock(directory):
                status = read_status(directory)
                status['push-started'] = None
                status.update(changes)
                write_status(directory, status)
        return changes.get('push-error')


class Pusher(threading.Thread):
    """catch_up in a thread of the re6st-backup service: after each backup
    (wake) and, while a push fails, every `retry_delay` seconds; the
    service's loop never waits for it."""

    def __init__(self, config, retry_delay):
        super().__init__(name='re6st-backup-push', daemon=True)
        self.config = config
        self.retry_delay = retry_delay
        self.event = threading.Event()
        self.wanted = False  # a backup was made: push it
        self.stopping = False
        self.retry_at = None  # after a failure

    def wake(self):
        self.wanted = True
        self.event.set()

    def stop(self):
        self.stopping = True
        self.event.set()

    def attempt(self):
        try:
            error = catch_up(self.config)
        except Exception:
            log.exception('pushing to backup-repository failed')
            error = True
        if error:
            if error is not True:
                log.error('%s', error)
            self.retry_at = time.monotonic() + self.retry_delay
        else:
            if repository_url(self.config):
                log.info('backup-repository is up to date')
            self.retry_at = None

    def run(self):
        """Until stop(): what wake() asked for is done first."""
        while True:
            self.event.clear()
            due = (self.retry_at is not None and not self.stopping
                   and time.monotonic() >= self.retry_at)
            if self.wanted or due or (
                    self.retry_at is None and not self.stopping
                    and push_pending(self.config)):
                self.wanted = False
                self.attempt()
                continue
            if self.stopping:
                return
            wait = 60 if self.retry_at is None else (
                self.retry_at - time.monotonic())
            self.event.wait(max(0, min(wait, 60)))
