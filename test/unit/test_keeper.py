"""tools/keeper.py's rules, against a stand-in for supervisord's XML-RPC
interface (the keeper under the real supervisord: test/standalone/
test_abuse.py, TestComesBackAlone)."""
import os
import subprocess
import unittest
import xmlrpc.client

from harness.tempdir import TempDir
from tools import keeper


def info(name, state, start=1, group='slappart0', description=''):
    return {'group': group, 'name': name, 'statename': state,
            'start': start, 'description': description, 'spawnerr': '',
            'exitstatus': 0}


class FakeSupervisor:

    def __init__(self, infos):
        self.infos = infos
        self.started = []

    def getAllProcessInfo(self):
        return self.infos

    def startProcess(self, name, wait):
        self.started.append(name)
        if name.endswith('broken'):
            raise xmlrpc.client.Fault(50, 'SPAWN_ERROR: ' + name)


class TestKeeper(TempDir):

    def setUp(self):
        super().setUp()
        os.mkdir(self.path('slappart0'))
        self.busy = self.path('slapos-node-instance.pid')
        self.now = 1000.0

    def keeper(self, *infos, **kw):
        supervisor = FakeSupervisor(list(infos))
        return supervisor, keeper.Keeper(
            supervisor, self.dir, self.busy, clock=lambda: self.now, **kw)

    def test_what_is_started_again(self):
        supervisor, k = self.keeper(
            info('killed-on-watch', 'EXITED',
                 description='terminated by SIGKILL'),
            info('failed-on-watch', 'FATAL'),
            info('notstarted-on-watch', 'STOPPED', start=0),
            info('stopped-on-purpose-on-watch', 'STOPPED'),
            info('runs-on-watch', 'RUNNING'),
            info('watchdog', 'FATAL', group='watchdog'),
            info(keeper.NAME, 'EXITED', group=keeper.NAME))
        self.assertEqual(k.check(), [
            'slappart0:killed-on-watch', 'slappart0:failed-on-watch',
            'slappart0:notstarted-on-watch'])

    def test_nothing_while_slapos_node_instance_runs(self):
        supervisor, k = self.keeper(info('killed-on-watch', 'EXITED'))
        with subprocess.Popen(['sleep', '30']) as run:
            with open(self.busy, 'w') as f:
                f.write('%s\n' % run.pid)
            try:
                self.assertEqual(k.check(), [])
            finally:
                run.kill()
        run.wait()
        # its PID file left behind, the process gone: not busy
        self.assertEqual(k.check(), ['slappart0:killed-on-watch'])

    def test_bounded_per_program(self):
        supervisor, k = self.keeper(info('crashes-on-watch', 'EXITED'),
                                    max_starts=3, window=60)
        for _ in range(5):
            k.check()
            self.now += 1
        self.assertEqual(len(supervisor.started), 3)
        self.now += 60
        self.assertEqual(k.check(), ['slappart0:crashes-on-watch'])

    def test_a_start_that_fails_is_counted_and_logged(self):
        supervisor, k = self.keeper(info('broken', 'FATAL'), max_starts=2)
        self.assertEqual(k.check(), [])
        k.check()
        k.check()
        self.assertEqual(supervisor.started, ['slappart0:broken'] * 2)


if __name__ == '__main__':
    unittest.main()
