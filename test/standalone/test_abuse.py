"""The registry under abuse, on the embedded SlapOS, loopback only and
bounded: its public side attacked from many addresses (idle and slow
connections, a flood of requests it fails on, huge request heads), no
token in any log, and every supervisor of the partition killed."""
import glob
import os
import signal
import threading
import unittest

from harness import attack, partition, until
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    long_test, RegistryTestCase, answers, get, setUpModule, tearDownModule)

PORT = 19451
ATTACK_SECONDS = 20
MB = 1 << 20


def status_of(pid, field):
    """A field of /proc/<pid>/status, in kB for memory."""
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])


@long_test
class TestPublicSide(RegistryTestCase):
    request = {'forward-ipv4': '127.0.0.1', 'forward-port': PORT}
    url = 'http://127.0.0.1:%s/' % PORT

    def logs(self):
        """{path: size} of every log of the partition: the registry's own
        and the services' output (supervisor's)."""
        paths = [self.path('var', 'log', 're6st-registry.log')] + glob.glob(
            self.path('.*.log'))
        return {path: os.path.getsize(path) for path in paths
                if os.path.exists(path)}

    def test_it_holds_under_attack(self):
        registry = self.pids()['re6st-registry']
        logs = self.logs()
        self.add_token('duringattack')
        joined = []
        # a node joins through the public side in the middle of it
        joiner = threading.Timer(ATTACK_SECONDS / 2, lambda: joined.append(
            self.join('duringattack', published=dict(
                self.published, **{'re6stry-url': self.url}))))
        joiner.start()
        result = attack.run(self.url, duration=ATTACK_SECONDS, idle=200,
                            slow=200, flood=100, big=20, sources=64)
        joiner.join()
        latencies = result['getca']
        fast = [x for x in latencies if x is not None and x <= 1]
        self.assertGreater(len(latencies), ATTACK_SECONDS * 2)
        self.assertGreaterEqual(len(fast), 0.95 * len(latencies),
                                sorted(x or 99 for x in latencies)[-20:])
        self.assertEqual(joined[0][0].returncode, 0, joined[0][0].stderr)
        self.assertGreater(result['malformed'], ATTACK_SECONDS * 50)
        # the registry: the same process, small, its logs small
        self.assertEqual(self.pids()['re6st-registry'], registry)
        self.assertLess(status_of(registry, 'VmHWM') * 1024, 200 * MB)
        grown = {path: size - logs.get(path, 0)
                 for path, size in self.logs().items()}
        self.assertLess(sum(grown.values()), 2 * MB, grown)
        # and everything is normal at once
        self.assertTrue(until('getCa', lambda: answers(self.url), 5, 0.1))

    def test_no_token_in_any_log(self):
        self.add_token('addedlocally')
        self.join_node('joinedthroughforward')
        get(self.published['re6stry-url'] + 'requestCertificate?'
            'token=failedrequest&req=garbage')
        for path in self.logs():
            with open(path) as f:
                text = f.read()
            for token in ('addedlocally', 'joinedthroughforward',
                          'failedrequest'):
                self.assertNotIn(token, text, path)


class TestManyNetworks(RegistryTestCase):
    """Idle connections from many /24 networks, each within its limits
    (5 addresses of each, 160 connections tried per network: more than its
    128), and a client of another network: it gets getCa within 1 s.
    (Issue 19, point 4: behind HAProxy's former total of 2000, 60 such
    networks delayed it by up to 15 s.)"""
    request = {'forward-ipv4': '127.0.0.1', 'forward-port': 19471}
    url = 'http://127.0.0.1:19471/'

    def flood(self, networks, per_network, seconds=20):
        result = attack.run(self.url, duration=seconds,
                            idle=networks * per_network, slow=0, flood=0,
                            big=0, sources=networks, hosts=5)
        latencies = result['getca']
        slowest = sorted(x or 99 for x in latencies)[-10:]
        print('%s networks: %s getCa, %s within 1 s, %s failed, slowest %s'
              % (networks, len(latencies), sum(
                  1 for x in latencies if x is not None and x <= 1),
                 latencies.count(None), slowest[-1:]))
        self.assertGreater(len(latencies), seconds * 2, slowest)
        self.assertNotIn(None, latencies, slowest)
        fast = [x for x in latencies if x <= 1]
        self.assertGreaterEqual(len(fast), 0.95 * len(latencies), slowest)
        self.assertTrue(until('getCa', lambda: answers(self.url), 5, 0.1))

    def test_60_networks(self):
        self.flood(60, 160)

    @unittest.skipUnless(os.environ.get('RE6ST_TEST_LONG'),
                         'heavy (16 000 sockets): set RE6ST_TEST_LONG=1')
    def test_250_networks(self):
        # 64 a network: the test's file limit holds 16 000 sockets
        self.flood(250, 64, 30)


class TestSupervision(RegistryTestCase):
    """SIGKILL of any launcher or of the partition's supervisord: what it
    ran stops at once (no orphan to hold a port), and the next instance
    run leaves exactly one of each service, answering."""
    request = {'forward-port': 19461}

    def processes(self):
        """{service: [PIDs running its command]}."""
        found = {}
        for pidfile in glob.glob(self.path('var', 'run', '*.pid')):
            _, argv = partition.read_pidfile(pidfile)
            name = os.path.basename(pidfile)[:-len('.pid')]
            found[name] = [int(pid) for pid in os.listdir('/proc')
                           if pid.isdigit() and argv
                           and partition.runs(int(pid), argv)]
        return found

    def assertOneOfEach(self):
        self.waitForInstance()
        processes = self.processes()
        self.assertEqual(sorted(processes), [
            're6st-backup', 're6st-forward', 're6st-registry',
            're6st-token-manager'])
        for name, pids in processes.items():
            self.assertEqual(len(pids), 1, (name, pids))
        for name, info in self.supervisor_processes().items():
            self.assertEqual(info['statename'], 'RUNNING', name)
        self.assertTrue(answers(self.published['re6stry-url']))
        self.assertTrue(answers(self.published['re6stry-local-url']))

    def test_a_killed_launcher_leaves_no_orphan(self):
        for name in ('re6st-registry', 're6st-forward', 're6st-token-manager',
                     're6st-backup'):
            child = self.pids()[name]
            with open('/proc/%s/stat' % child) as f:
                launcher = int(f.read().rsplit(')', 1)[1].split()[1])
            os.kill(launcher, signal.SIGKILL)
            # (gone: it holds no port; supervisord has started the
            # launcher again at once, and its new one)
            self.assertTrue(until('%s stopped' % name, lambda: not (
                partition.command_line(child)), 10, 0.1), name)
            self.assertOneOfEach()

    def test_a_killed_supervisord_leaves_no_orphan(self):
        before = self.pids()
        with self.slap.instance_supervisor_rpc as supervisor:
            os.kill(supervisor.getPID(), signal.SIGKILL)
        for name, pid in before.items():
            self.assertTrue(until('%s stopped' % name, lambda: not (
                partition.command_line(pid)), 10, 0.1), name)
        self.assertOneOfEach()
