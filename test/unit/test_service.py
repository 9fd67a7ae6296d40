"""re6st-service, the launcher of every service, with real processes."""
import os
import signal
import sys
import threading
import time

from slapos_re6st.lib.wait import wait_for
from slapos_re6st.service.launcher import Launcher
from support.tempdir import TempDir


class TestLauncher(TempDir):

    def setUp(self):
        super().setUp()
        self.pidfile = self.path('child.pid')
        self.config = self.path('config')
        with open(self.config, 'w') as f:
            f.write('a')

    def launcher(self, *command):
        return Launcher(list(command), [self.config], self.pidfile,
                        check_period=0.05, restart_delay=0.05)

    def child_pid(self):
        with open(self.pidfile) as f:
            return int(f.read())

    def wait(self, what, check, timeout=10):
        self.assertTrue(wait_for(check, timeout, 0.02), what)

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
