"""The rotation of the registry's log, with a process logging through
re6st's own log setup."""
import logging
import os
import time

from slapos_re6st.backup import loop, rotation
from slapos_re6st.lib import re6st_adapter
from slapos_re6st.lib.wait import wait_for
from harness.tempdir import TempDir
from support.partition import PartitionTestCase


def age(path, seconds):
    """Make a backup directory, a stamp... look `seconds` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


class TestLogRotation(PartitionTestCase):

    def test_due_by_size_or_age_never_when_empty(self):
        p = self.partition()
        log, stamp = p.config['registry-log'], p.config['log-stamp']
        self.assertFalse(rotation.rotation_due(log, stamp, 1000, 86400))
        open(log, 'w').close()
        self.assertFalse(rotation.rotation_due(log, stamp, 1000, 86400))
        self.assertTrue(os.path.exists(stamp))  # the count starts
        with open(log, 'w') as f:
            f.write('x' * 999)
        self.assertFalse(rotation.rotation_due(log, stamp, 1000, 86400))
        with open(log, 'a') as f:
            f.write('x')
        self.assertTrue(rotation.rotation_due(log, stamp, 1000, 86400))
        with open(log, 'w') as f:
            f.write('a line\n')
        age(stamp, 86399)
        self.assertFalse(rotation.rotation_due(log, stamp, 1000, 86400))
        age(stamp, 86401)
        self.assertTrue(rotation.rotation_due(log, stamp, 1000, 86400))

    def test_the_registry_reopens_its_log_and_nothing_is_lost(self):
        """A process logging with re6st's own setupLog (as re6st-registry
        does), numbering its lines."""
        p = self.partition()
        log = p.config['registry-log']
        stop = p.path('stop')
        child = self.start(p, 're6st-registry', '''
import logging, os
from re6st.utils import setupLog
from slapos_re6st.lib import re6st_adapter
re6st_adapter.harden()
setupLog(3, %r)
n = 0
while not os.path.exists(%r):
    logging.warning('line %%s', n)
    n += 1
    time.sleep(0.005)
''' % (log, stop))

        def lines(path):
            try:
                with open(path) as f:
                    return [int(line.split()[-1]) for line in f
                            if line.endswith('\n')]
            except FileNotFoundError:
                return []

        def wait(what, check):
            self.assertTrue(wait_for(check, 10, 0.02), what)
        wait('first lines', lambda: len(lines(log)) > 10)
        for n in range(4):  # keep 3: the 4th rotation drops the oldest
            self.assertIsNone(rotation.rotate(
                log, 3, p.config['registry-pidfile'], p.config['log-stamp']))
            wait('log reopened', lambda: len(lines(log)) > 10)
        open(stop, 'w').close()
        self.assertEqual(child.wait(10), 0)
        self.assertFalse(os.path.exists(log + '.4'))
        found = []
        for path in (log + '.3', log + '.2', log + '.1', log):
            self.assertTrue(lines(path), path)
            found += lines(path)
        self.assertEqual(found, list(range(found[0], found[0] + len(found))))

    def test_without_the_registry_the_log_is_still_rotated(self):
        p = self.partition()
        log = p.config['registry-log']
        with open(log, 'w') as f:
            f.write('old\n')
        # a PID file naming a process that is not the registry
        other = self.start(p, 'something-else')
        os.rename(p.path('var/run/something-else.pid'),
                  p.config['registry-pidfile'])
        warning = rotation.rotate(log, 3, p.config['registry-pidfile'],
                                  p.config['log-stamp'])
        self.assertIn(p.config['registry-pidfile'], warning)
        self.assertIsNone(other.poll())  # not signalled
        self.assertTrue(os.path.exists(log + '.1'))

    def test_the_service_rotates_when_due(self):
        p = self.partition()
        log = p.config['registry-log']
        with open(log, 'w') as f:
            f.write('x' * 2000)
        loop.loop(p.config, iterations=1)
        self.assertTrue(os.path.exists(log + '.1'))


class Interrupted:
    """A log file whose next write is interrupted, just before it starts,
    by the rotation's SIGUSR1: `reopen` runs there, as the signal handler
    runs in the thread that is writing."""

    def __init__(self, stream, reopen):
        self.stream, self.reopen = stream, reopen

    def write(self, text):
        reopen, self.reopen = self.reopen, None
        if reopen:
            reopen()
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class TestReopenDuringALine(TempDir):
    """re6st's own reopening on SIGUSR1 loses the line being written when
    the signal comes in the middle of it; the adapter's does not."""

    def lines_kept(self, reopen):
        from re6st import utils
        handler = utils.FileHandler(self.path('log'))
        self.addCleanup(handler.close)
        logger = logging.Logger('rotation-test')
        logger.addHandler(handler)
        logger.warning('line 1')
        os.replace(self.path('log'), self.path('log.1'))  # the rotation
        handler.stream = Interrupted(handler.stream,
                                     lambda: reopen(handler))
        raise_exceptions = logging.raiseExceptions
        logging.raiseExceptions = False  # a lost line: no traceback here
        try:
            logger.warning('line 2')
            logger.warning('line 3')
        finally:
            logging.raiseExceptions = raise_exceptions
        text = ''
        for name in 'log.1', 'log':
            if os.path.exists(self.path(name)):
                with open(self.path(name)) as f:
                    text += f.read()
        return [n for n in (1, 2, 3) if 'line %s' % n in text]

    def test_re6st_loses_the_line_being_written(self):
        from re6st import utils  # (never adapted in the tests' process)
        self.assertEqual(self.lines_kept(utils.FileHandler.async_reopen),
                         [1, 3])

    def test_the_adapter_loses_none(self):
        self.assertEqual(self.lines_kept(re6st_adapter.reopen_later),
                         [1, 2, 3])
