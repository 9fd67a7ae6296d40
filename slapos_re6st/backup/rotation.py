"""The rotation of the registry's own log (var/log/re6st-registry.log),
by the re6st-backup service: LOG -> LOG.1 -> ... when it reaches a size or
an age, then SIGUSR1 to the registry, on which re6st reopens its log.
(supervisor rotates the services' output itself.)"""
import logging
import os
import signal
import time

from ..lib.process import process_of

log = logging.getLogger('re6st-backup')


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
