"""slapos_re6st.lib's mechanisms that everything shares: the atomic
write, the wait, the services' PID files."""
import os
import stat
import subprocess
import sys
import time

from slapos_re6st.lib import files, process
from slapos_re6st.lib.wait import wait_for
from support import until
from harness.tempdir import TempDir


class TestFiles(TempDir):

    def test_a_secret_is_never_readable_by_others(self):
        old = os.umask(0)
        self.addCleanup(os.umask, old)
        path = self.path('secret')
        files.write(path, 'x', 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        files.write(path, b'y', 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertEqual(files.read(path), 'y')
        self.assertEqual(os.listdir(self.dir), ['secret'])  # no leftover

    def test_exclusive_never_replaces(self):
        path = self.path('ca.key')
        files.write(path, 'first', 0o600, exclusive=True)
        with self.assertRaises(FileExistsError):
            files.write(path, 'second', 0o600, exclusive=True)
        self.assertEqual(files.read(path), 'first')
        self.assertEqual(os.listdir(self.dir), ['ca.key'])

    def test_write_if_changed(self):
        path = self.path('config')
        self.assertTrue(files.write_if_changed(path, 'a\n', 0o600))
        mtime = os.stat(path).st_mtime_ns
        time.sleep(0.01)
        self.assertFalse(files.write_if_changed(path, 'a\n', 0o600))
        self.assertEqual(os.stat(path).st_mtime_ns, mtime)
        os.chmod(path, 0o644)
        self.assertFalse(files.write_if_changed(path, 'a\n', 0o600))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        # without a mode, the file keeps its own
        os.chmod(path, 0o640)
        self.assertTrue(files.write_if_changed(path, 'b\n'))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertIsNone(files.read(self.path('missing')))

    def test_digest_of_follows_every_content(self):
        a, b = self.path('a'), self.path('b')
        files.write(a, 'a')
        files.write(b, 'b')
        before = files.digest_of([a, b])
        self.assertEqual(files.digest_of([a, b]), before)
        self.assertNotEqual(files.digest_of([b, a]), before)
        files.write(b, 'c')
        self.assertNotEqual(files.digest_of([a, b]), before)


class TestPending(TempDir):

    def test_written_when_asked_only(self):
        pending = files.Pending()
        pending.new(self.path('a', 'key'), b'k', 0o600)
        pending.changed(self.path('a', 'key.pub'), 'p\n')
        self.assertEqual(os.listdir(self.dir), [])
        for _ in range(2):  # again: nothing changes
            pending.write_all()
            self.assertEqual(files.read(self.path('a', 'key')), 'k')
            self.assertEqual(files.read(self.path('a', 'key.pub')), 'p\n')
            self.assertEqual(stat.S_IMODE(os.stat(
                self.path('a', 'key')).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(
                self.path('a')).st_mode), 0o700)

    def test_a_new_file_never_replaces_another(self):
        pending = files.Pending()
        pending.new(self.path('key'), b'k')
        files.write(self.path('key'), b'other')
        with self.assertRaises(FileExistsError):
            pending.write_all()
        self.assertEqual(files.read(self.path('key')), 'other')


class TestWait(TempDir):

    def test_first_true_value_or_the_last_false_one(self):
        values = iter([0, None, 'ready'])
        self.assertEqual(wait_for(lambda: next(values), 5, 0.01), 'ready')
        start = time.monotonic()
        self.assertEqual(wait_for(lambda: [], 0.2, 0.05), [])
        self.assertLess(time.monotonic() - start, 1)


class TestProcess(TempDir):

    def test_the_pid_of_the_named_running_process_only(self):
        named = self.path('re6st-registry')
        with open(named, 'w') as f:
            f.write('import time\ntime.sleep(30)\n')
        child = subprocess.Popen([sys.executable, named])
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        pidfile = self.path('re6st-registry.pid')
        process.write_pidfile(pidfile, child.pid)
        self.assertEqual(process.process_of(pidfile), child.pid)
        # the same PID file name, another program
        other = self.path('re6st-backup.pid')
        process.write_pidfile(other, child.pid)
        self.assertIsNone(process.process_of(other))
        child.kill()
        child.wait()
        self.assertIsNone(process.process_of(pidfile))  # stale
        self.assertIsNone(process.process_of(self.path('missing.pid')))

    def test_a_process_just_started_is_seen_running(self):
        """subprocess.Popen returns once the child has exec'd, a moment
        before the kernel shows its arguments: a launcher writes its PID
        file then, and a promise may read it at once."""
        named = self.path('re6st-token-manager')
        with open(named, 'w') as f:
            f.write('import time\ntime.sleep(30)\n')
        for _ in range(50):
            child = subprocess.Popen([sys.executable, named])
            try:
                self.assertEqual(process.command_line(child.pid),
                                 [sys.executable, named])
            finally:
                child.kill()
                child.wait()
        # a zombie's arguments are empty at once
        child = subprocess.Popen(['true'])
        until('exited', lambda: process.state(child.pid) == 'Z', 5, 0.01)
        self.assertEqual(process.command_line(child.pid), [])
        child.wait()
