"""re6st-service, the launcher of every service, with real processes."""
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from slapos_re6st import service  # noqa: E402


class TestLauncher(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.pidfile = os.path.join(self.dir, 'child.pid')
        self.config = os.path.join(self.dir, 'config')
        with open(self.config, 'w') as f:
            f.write('a')
        for name, value in (('CHECK_PERIOD', 0.05), ('RESTART_DELAY', 0.05)):
            old = getattr(service, name)
            setattr(service, name, value)
            self.addCleanup(setattr, service, name, old)

    def launcher(self, *command):
        return service.Launcher(list(command), [self.config], self.pidfile)

    def child_pid(self):
        with open(self.pidfile) as f:
            return int(f.read())

    def wait(self, what, check, timeout=10):
        deadline = time.monotonic() + timeout
        while not check():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.02)

    def test_crash_is_restarted_and_change_restarts(self):
        launcher = self.launcher('sleep', '60')
        pids = []

        def act():
            self.wait('started', lambda: os.path.exists(self.pidfile))
            pids.append(self.child_pid())
            os.kill(pids[0], signal.SIGKILL)
            self.wait('restarted', lambda: self.child_pid() != pids[0])
            pids.append(self.child_pid())
            with open(self.config, 'w') as f:
                f.write('b')
        thread = threading.Thread(target=act)
        thread.start()
        result = launcher.run(max_checks=400)
        thread.join()
        self.assertEqual(result, 'changed')
        self.assertEqual(len(set(pids)), 2)
        # every command it started is stopped (and reaped)
        for pid in pids:
            self.assertRaises(ProcessLookupError, os.kill, pid, 0)

    def test_sigterm_stops_the_command(self):
        launcher = self.launcher('sleep', '60')

        def act():
            self.wait('started', lambda: os.path.exists(self.pidfile))
            launcher.on_signal(signal.SIGTERM, None)
        thread = threading.Thread(target=act)
        thread.start()
        self.assertEqual(launcher.run(max_checks=400), 'stop')
        thread.join()
        self.assertIsNotNone(launcher.child.poll())

    def test_signals_are_passed_on(self):
        marker = os.path.join(self.dir, 'got-usr1')
        launcher = self.launcher(
            sys.executable, '-c',
            'import signal, time\n'
            'signal.signal(signal.SIGUSR1, lambda *a: open(%r, "w").close())\n'
            'time.sleep(60)\n' % marker)

        def act():
            self.wait('started', lambda: os.path.exists(self.pidfile))
            time.sleep(0.5)  # the child installs its handler
            launcher.on_signal(signal.SIGUSR1, None)
            self.wait('child got SIGUSR1', lambda: os.path.exists(marker))
            launcher.on_signal(signal.SIGTERM, None)
        thread = threading.Thread(target=act)
        thread.start()
        self.assertEqual(launcher.run(max_checks=400), 'stop')
        thread.join()


if __name__ == '__main__':
    unittest.main()
