"""Each backup committed to the partition's git repository and pushed to
backup-repository (the URL in the file `repository-file`, written by the
backup recipe).  A failed push is recorded in the status (push-error),
never fails the backup, and is tried again without a new backup
(catch_up); a repository newly set gets the newest backup the same way."""
import json
import logging
import os
import time

from ..lib import remote
from .directory import (
    MANIFEST, Lock, backup_names, read_status, utc, write_status)
from .repository import Repository, RepositoryError

log = logging.getLogger('re6st-backup')

PUSH_KEYS = ('last-push', 'last-push-commit', 'push-error', 'push-error-time',
             'pushed-to', 'last-recorded-backup')


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
        repo = Repository(
            config['repository-dir'], remote.parse(url),
            git=config.get('git') or 'git', ssh_key=config.get('ssh-key'),
            known_hosts=config.get('known-hosts'))
        if backup_path:
            repo.record(backup_path, commit_message(backup_path))
            status['last-recorded-backup'] = os.path.basename(backup_path)
        commit, continued = repo.publish()
    except (ValueError, RepositoryError, OSError) as e:
        error = str(e)
        status.update({'push-error': error, 'push-error-time': utc(now)})
        return error
    if continued:
        log.warning('%s', continued)
    status.update({'last-push': utc(now), 'last-push-commit': commit,
                   'pushed-to': remote.redact(url),
                   'push-error': None, 'push-error-time': None})
    return None


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
        write_status(directory, status)
        return error
