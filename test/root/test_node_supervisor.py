"""As root, `make run`'s registry partition under a SlapOS node's own
instance supervisor, made by slapos.core's code (support/slapos_node.py:
slapos.grid.svcbackend's supervisord, root's, with slapos.core's
watchdog; slapos.grid.SlapObject.Partition writing the partition's
programs from slapos.core's templates, run as the partition's user),
which takes the partition's services over from the embedded SlapOS:

- slapos.core's portredir manager plugin, run as root as `slapos node
  instance` runs it after the partition (instanceTearDown), reads the
  `.slapos-port-redirect` the release writes; the socat program it adds
  to the node's supervisord exposes the registry on the host's IPv4
  (issue 20);
- SIGKILL of a service's launcher: the node's supervisord leaves it
  EXITED (slapos.core's `autorestart=false`) and slapos.core's watchdog
  bangs the master for it, since the release's services are named
  `-on-watch`; the partition started again as the next `slapos node
  instance` starts it (Partition.start(), after its buildout run, which
  is not repeated here) answers at once (issue 19).  Between the two,
  only the master can act on a node: what that means for operators is
  in docs/operations.md.

Stand-in: the SlapOS master (support/slapos_node.Master records the
bang; the partition's parameters are the embedded SlapOS's own answer).
(`make test` runs this suite as root; as another user, it is skipped.)"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from supervisor import childutils

from slapos_re6st.lib.wait import wait_for
from support.host import (
    answers, last_json, make, registry_partition, uid, work)

# forward-port: the first of these where the socat of slapos.core's
# portredir can listen (every IPv4 address, without SO_REUSEADDR: a
# connection of an earlier run still in TIME_WAIT there makes it fail)
PORTS = range(19591, 19691, 2)
SERVICES = ['re6st-backup', 're6st-forward', 're6st-registry',
            're6st-token-manager']


def service_of(program):
    """The release's service a program of the partition runs."""
    for name in SERVICES:
        if program.startswith(name + '-') or program == name:
            return name


def bindable(port):
    """Whether `port` (and the next, the forward's there) can be bound on
    every IPv4 address, without SO_REUSEADDR, and on ::1."""
    for family, address, each in ((socket.AF_INET, '0.0.0.0', port),
                                  (socket.AF_INET, '0.0.0.0', port + 1),
                                  (socket.AF_INET6, '::1', port)):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((address, each))
        except OSError:
            return False
        finally:
            s.close()
    return True


def owner(pid):
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])


@unittest.skipUnless(os.geteuid() == 0, 'root only (make test as root)')
class TestOnANodesSupervisor(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # (imported here: slapos.core is there in the suite's Python)
        from support.slapos_node import Master, Node
        cls.addClassCleanup(make, 'stop')
        cls.port = next(port for port in PORTS if bindable(port))
        cls.published = last_json(make('run', PARAMS=json.dumps(
            {'forward-port': cls.port})))
        # the embedded SlapOS's supervisord stops the partition's programs
        # (on purpose: its keeper leaves them alone); the node's runs them
        embedded = childutils.getRPCInterface({
            'SUPERVISOR_SERVER_URL': 'unix://' + os.path.join(
                work(), 'slapos', 'inst', 'sv.sock')}).supervisor
        group = os.path.basename(registry_partition())
        embedded.stopProcessGroup(group)
        cls.addClassCleanup(embedded.startProcessGroup, group)
        cls.master = Master()
        cls.addClassCleanup(cls.master.stop)
        cls.node = Node(cls.master.url)
        cls.addClassCleanup(cls.node.stop)
        # as slapos node instance starts a partition once processed
        cls.node.partition.start()
        assert wait_for(cls.everything_answers, 60, 0.2), \
            'the registry never answered'

    @classmethod
    def everything_answers(cls):
        return answers(cls.published['re6stry-url']) and answers(
            cls.published['re6stry-local-url'])

    def test_the_node_runs_the_services_as_the_partitions_user(self):
        processes = self.node.processes()
        self.assertEqual(sorted(map(service_of, processes)), SERVICES)
        for name, info in processes.items():
            self.assertEqual(info['statename'], 'RUNNING', name)
            self.assertTrue(name.endswith('-on-watch'), name)
            # (supervisord's child changes user just before exec)
            self.assertTrue(wait_for(lambda: owner(info['pid']) == uid(), 10),
                            '%s runs as uid %s' % (name, owner(info['pid'])))

    def test_slapos_core_portredir_exposes_the_registry_on_the_hosts_ipv4(
            self):
        from slapos.manager import portredir
        with open(os.path.join(registry_partition(),
                               '.slapos-port-redirect')) as f:
            redirect, = json.load(f)
        port = redirect['srcPort']
        self.assertEqual(port, self.port)
        self.assertFalse(answers('http://127.0.0.1:%s/' % port))
        self.assertTrue(shutil.which('socat'), 'socat is not installed')
        portredir.Manager({}).instanceTearDown(self.node.partition)
        group = self.node.partition.getGroupIdFromSuffix('socat')
        socat, = self.node.processes(group).values()
        self.assertEqual(socat['statename'], 'RUNNING')
        # the host's IPv4 (any of them: 127.0.0.1 here) at forward-port
        self.assertTrue(wait_for(
            lambda: answers('http://127.0.0.1:%s/' % port), 10),
            'no getCa through socat: %s; listening there: %s' % (
                self.node.log(group, socat), subprocess.run(
                    ['ss', '-Htlnp', 'sport = :%s' % port],
                    capture_output=True, text=True).stdout))
        # ports >= 1024: slapos runs it as the partition's user (read once
        # it serves: supervisord's child changes user just before exec,
        # after the program is RUNNING)
        self.assertEqual(owner(socat['pid']), uid())

    def test_a_killed_launcher_bangs_the_master_and_a_start_brings_it_back(
            self):
        for name, info in self.node.processes().items():
            if service_of(name) == 're6st-registry':
                program, pid = name, info['pid']
        self.master.banged.clear()
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        # slapos.core's watchdog reacts to the -on-watch program's exit
        self.assertTrue(self.master.banged.wait(30), 'no bang within 30 s')
        print('bang %.1f s after the kill' % (time.monotonic() - killed))
        bang = self.master.bangs[-1]
        self.assertEqual(bang['computer_partition_id'],
                         self.node.partition.partition_id)
        self.assertIn(program, bang['message'])
        # nothing on the node restarts it: the master's turn
        info = self.node.processes()[program]
        self.assertEqual(info['statename'], 'EXITED')
        self.assertFalse(answers(self.published['re6stry-local-url']))
        start = time.monotonic()
        self.node.partition.start()
        self.assertTrue(wait_for(self.everything_answers, 30, 0.2))
        print('the registry answered %.1f s after the partition started'
              ' again' % (time.monotonic() - start))
        self.assertEqual(self.node.processes()[program]['statename'],
                         'RUNNING')
