"""re6st-service, the launcher of every service, with real processes."""
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

from slapos_re6st.cli import service as service_cli
from slapos_re6st.lib import files, process
from slapos_re6st.lib.wait import wait_for
from slapos_re6st.service import launcher as launcher_module
from slapos_re6st.service.launcher import Launcher
from harness.tempdir import TempDir


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
        return process.read_pidfile(self.pidfile)[0]

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

    def test_a_change_takes_effect_once_it_is_over(self):
        # buildout removes the files of a part it installs again, and
        # writes them back later in the same run
        launcher = self.launcher('sleep', '60')

        def act():
            self.wait('started', lambda: os.path.exists(self.pidfile))
            os.unlink(self.config)
            time.sleep(0.5)  # ten checks: the command runs on meanwhile
            running.append(launcher.child.poll() is None)
            with open(self.config, 'w') as f:
                f.write('b')
        running = []
        thread = threading.Thread(target=act)
        thread.start()
        result = launcher.run(max_checks=400)
        thread.join()
        self.assertEqual(running, [True], 'stopped while its file was gone')
        self.assertEqual(result, 'changed')
        self.assertIsNotNone(launcher.child.poll())

    def test_a_file_gone_for_good_is_a_change_in_the_end(self):
        launcher = self.launcher('sleep', '60')
        launcher.settle_limit = 0.3

        def act():
            self.wait('started', lambda: os.path.exists(self.pidfile))
            os.unlink(self.config)
        thread = threading.Thread(target=act)
        thread.start()
        started = time.monotonic()
        result = launcher.run(max_checks=400)
        thread.join()
        self.assertEqual(result, 'changed')
        self.assertGreater(time.monotonic() - started, 0.3)

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


class TestSupervision(TempDir):
    """Whatever is killed, no command outlives what supervises it, and a
    new launcher stops what a killed one left."""

    def setUp(self):
        super().setUp()
        self.pidfile = self.path('service.pid')
        self.wrapper = self.path('wrapper')
        with open(self.wrapper, 'w') as f:
            f.write('')
        self.command = [sys.executable, '-c', 'import time; time.sleep(60)',
                        'a-service']

    def launcher_args(self, command=None, watch=()):
        return [sys.executable, '-c', 'import sys; sys.path[0:0] = %r;'
                ' from slapos_re6st.cli.service import main; sys.exit(main())'
                % sys.path, '--wrapper', self.wrapper, '--pidfile',
                self.pidfile] + ['--watch=%s' % path for path in watch] + [
                '--'] + (command or self.command)

    def child(self, previous=None, command=None):
        """The PID of the command, once started (and not `previous`)."""
        def started():
            pid, _ = process.read_pidfile(self.pidfile)
            return pid != previous and process.runs(
                pid, command or self.command) and pid
        return wait_for(started, 10, 0.02)

    def start(self, args):
        started = subprocess.Popen(args)
        self.addCleanup(lambda: (started.kill(), started.wait()))
        return started

    def gone(self, pid, command=None):
        return wait_for(lambda: not process.runs(pid, command or self.command),
                        10, 0.02)

    def test_the_command_dies_with_a_killed_launcher(self):
        launcher = self.start(self.launcher_args())
        child = self.child()
        self.assertTrue(child)
        launcher.kill()
        self.assertTrue(self.gone(child), 'the command outlived its launcher')

    def test_both_die_with_a_killed_supervisord(self):
        supervisor = self.start([
            sys.executable, '-c', 'import subprocess, sys, time;'
            ' subprocess.Popen(sys.argv[1:]); time.sleep(60)'
        ] + self.launcher_args())
        child = self.child()
        self.assertTrue(child)
        supervisor.kill()
        self.assertTrue(self.gone(child), 'the command outlived supervisord')

    def test_a_new_launcher_stops_what_a_killed_one_left(self):
        # a command left running (its launcher killed before the kernel
        # could tell it, or from before this release)
        left = self.start(self.command)
        process.write_pidfile(self.pidfile, left.pid)
        self.start(self.launcher_args())
        child = self.child(previous=left.pid)
        self.assertTrue(child)
        self.assertEqual(left.wait(10), -signal.SIGTERM)
        # another program with that PID file is left alone
        other = self.start([sys.executable, '-c',
                            'import time; time.sleep(60)'])
        process.write_pidfile(self.pidfile, other.pid)
        self.assertIsNone(process.stop_stale(self.pidfile, self.command))
        self.assertIsNone(other.poll())

    def install(self, version):
        """The wrapper and configuration of a service whose command ends
        with `version`, as buildout installs them; the configuration's
        path."""
        config = self.path('config')
        files.write(config, version)
        files.write(self.wrapper, '#!/bin/sh\nexec %s\n' % shlex.join(
            self.launcher_args(self.command + [version], [config])), 0o755)
        return config

    def test_a_buildout_run_that_installs_it_again_leaves_it_running(self):
        """buildout removes the wrapper and the configuration of a service
        it installs again (a software release update, an option changed)
        and writes them back later in the run: the launcher waits for the
        end of it, then runs the new wrapper.  It used to run the missing
        wrapper and die, leaving the service down until the next instance
        run (supervisor does not restart it)."""
        config = self.install('v1')
        launcher = self.start([self.wrapper])
        first = self.child(command=self.command + ['v1'])
        self.assertTrue(first)
        os.unlink(self.wrapper)
        os.unlink(config)
        time.sleep(3 * launcher_module.CHECK_PERIOD)
        self.assertIsNone(launcher.poll(), 'the launcher died')
        self.assertTrue(process.runs(first, self.command + ['v1']),
                        'the command was stopped while its files were gone')
        self.install('v2')
        second = self.child(first, self.command + ['v2'])
        self.assertTrue(second, 'the new wrapper did not take over')
        self.assertTrue(self.gone(first, self.command + ['v1']))
        self.assertIsNone(launcher.poll())

    def test_a_new_wrapper_that_cannot_run_leaves_the_service_running(self):
        self.install('v1')
        launcher = self.start([self.wrapper])
        first = self.child(command=self.command + ['v1'])
        self.assertTrue(first)
        files.write(self.wrapper, 'not a program', 0o644)
        # the change is taken, the wrapper cannot run: the command as before
        second = self.child(first, self.command + ['v1'])
        self.assertTrue(second, 'the service was left down')
        self.assertIsNone(launcher.poll(), 'the launcher died')
        self.assertIsInstance(service_cli.execute(self.wrapper),
                              PermissionError)
