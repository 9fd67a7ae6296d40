"""The re6st-backup service (re6st-backup --loop): a backup at start
(unless the newest is younger than a period), then one every `period`
seconds, retrying sooner after a failure; the registry's log rotated when
due.  Pushes to backup-repository run beside it (push.Pusher: after each
backup, failed ones tried again every minute): a remote that stalls
delays no backup."""
import logging
import os
import time

from ..lib.wait import wait_for
from .directory import (
    BackupError, backup_names, backup_time, databases, read_status)
from .push import Pusher
from .rotation import maybe_rotate
from .snapshot import backup

log = logging.getLogger('re6st-backup')

# After a failure, try again this much later (not a period).
RETRY_DELAY = 60
# The registry's log is checked this often.
ROTATE_CHECK = 60
# At most this long for the databases at its start (a new partition's
# services start together).
START_WAIT = 300


def first_due(config):
    """Seconds until the first backup of a (re)started service: none if
    the newest backup is younger than a period and the last attempt did
    not fail (a service restarted again and again must not push the kept
    backups out), else at once."""
    directory = config['directory']
    names = backup_names(directory)
    if not names or read_status(directory).get('last-error'):
        return 0
    age = time.time() - backup_time(names[-1])
    return min(max(0, config['period'] - age), config['period'])


def loop(config, iterations=None, retry_delay=RETRY_DELAY):
    """A backup at start unless a recent one exists (once the databases
    exist: the services of a new partition start together), then every
    period, retrying sooner after a failure; the registry's log rotated
    when due."""
    period = config['period']
    due = time.monotonic() + first_due(config)
    paths = [path for _, path in databases(config)]
    if due <= time.monotonic() and not wait_for(
            lambda: all(map(os.path.exists, paths)), min(period, START_WAIT),
            interval=2):
        log.warning('the databases do not all exist yet: trying anyway')
    pusher = Pusher(config, retry_delay)
    pusher.start()
    try:
        run(config, due, iterations, retry_delay, pusher)
    finally:
        pusher.stop()
        if iterations is not None:  # a test: its pushes done
            pusher.join()


def run(config, due, iterations, retry_delay, pusher):
    period = config['period']
    count = 0
    while iterations is None or count < iterations:
        count += 1
        if time.monotonic() >= due:
            try:
                path = backup(config, push_now=False)
            except BackupError as e:
                log.error('%s', e)
                due = time.monotonic() + min(retry_delay, period)
            except Exception:  # e.g. the status cannot be written
                log.exception('backup failed')
                due = time.monotonic() + min(retry_delay, period)
            else:
                log.info('backup written: %s', path)
                due = time.monotonic() + period
                pusher.wake()
        try:
            maybe_rotate(config)
        except OSError as e:
            log.error('rotating %s failed: %s', config['registry-log'], e)
        if iterations is None or count < iterations:
            time.sleep(max(1, min(due - time.monotonic(), ROTATE_CHECK)))
