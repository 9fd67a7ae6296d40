"""What the backup promise checks: the last attempt did not fail (nor the
last push to backup-repository), the newest backup is recent; a new
partition has two periods for its first backup.  A push in progress is
said too."""
import os
import time

from ..backup.directory import (
    DEPLOYED, backup_names, backup_time, deployed, load_config, read_status,
    utc)
from ..backup.push import pushing, repository_url
from ..lib import remote
from .base import CheckPromise


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


def backup_health(config):
    """(True, what is fine) or (False, what is wrong and what to do), on
    the real clock: the last attempt failed; the newest backup is older
    than twice the period; there is no backup and the partition was
    deployed more than two periods ago.  Either ends with the push in
    progress, if one is."""
    ok, message = health(config)
    status = read_status(config['directory'])
    url = repository_url(config)
    if url and status.get('push-started') and pushing(config['directory']):
        message = '%s  A push to backup-repository %s is in progress' \
            ' since %s.' % (message.rstrip(), remote.redact(url),
                            status['push-started'])
    return ok, message


def health(config):
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
    deployed_at = deployed(directory)
    if deployed_at is None:
        return False, (
            'There is no backup in %s, nor the time of the first deployment'
            ' (%s): run the instance again, then %s.'
            % (directory, os.path.join(directory, DEPLOYED), command))
    age = now - deployed_at
    if age > limit:
        return False, (
            'There is no backup in %s although the partition was deployed'
            ' at %s, more than twice backup-period (%s s) ago: is the'
            ' re6st-backup service of the partition running?  Run %s to'
            ' make one now.' % (directory, utc(deployed_at), period, command))
    return True, ('No backup yet: the partition was deployed at %s and the'
                  ' first backup is due by %s.'
                  % (utc(deployed_at), utc(deployed_at + limit)))


class RunPromise(CheckPromise):
    """Configuration: config (etc/re6st-backup.json)."""

    def check(self):
        return backup_health(load_config(self.getConfig('config')))
