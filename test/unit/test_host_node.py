"""The registry's own node without SlapOS (lib.host_node, the host-node
recipe, the registry service's first certificate): with the real
re6st-registry, and a stand-in for babeld on its control socket (the real
babeld re6stnet needs, Nexedi's, is not in Debian).  The real re6stnet
node is run by test/netns (root)."""
import datetime
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import unittest

from slapos_re6st.lib import ca, files, host_node
from slapos_re6st.recipe.host_node import Recipe
from support import TOP
from support.babeld import Babeld
from support.re6st import RunningRegistry
from harness.tempdir import TempDir

GRACE = 8640000
STATUS = ('import sys; from slapos_re6st.lib import host_node;'
          ' print(host_node.status(*sys.argv[1:4], int(sys.argv[4]))[1])')


class TestMainNode(TempDir):

    def test_the_first_certificate_is_the_host_nodes(self):
        node = self.path('host-node')
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        prefix, email, cert = host_node.main_node(registry.path(
            'registry.db'))
        own = ca.load_certificate(os.path.join(node, host_node.CERT))
        self.assertEqual(cert, own)
        self.assertEqual(prefix, host_node.prefix_bits(
            host_node.common_name(own)))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
            node, host_node.KEY)).st_mode), 0o600)
        self.assertEqual(files.read(os.path.join(node, host_node.CA),
                                    binary=True),
                         files.read(registry.path('ca.crt'), binary=True))
        # other nodes join; the registry started again: still the same
        registry.join('other', add_token=True)
        registry.stop()
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        self.assertEqual(host_node.main_node(registry.path('registry.db')),
                         (prefix, email, cert))
        self.assertEqual(ca.load_certificate(os.path.join(
            node, host_node.CERT)), own)

    def test_the_host_node_follows_a_restored_ca(self):
        node = self.path('host-node')
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        registry.stop()
        other = RunningRegistry(self.path('other'))  # another CA
        self.addCleanup(other.stop)
        other.stop()
        files.write(os.path.join(node, host_node.CA),
                    files.read(other.path('ca.crt'), binary=True))
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        self.assertEqual(files.read(os.path.join(node, host_node.CA),
                                    binary=True),
                         files.read(registry.path('ca.crt'), binary=True))

    def test_a_registry_with_another_main_node_is_told(self):
        registry = RunningRegistry(self.path('registry'))
        self.addCleanup(registry.stop)
        first = registry.join('firstcomer', add_token=True)
        node = self.path('host-node')
        host_node.ensure_key(os.path.join(node, host_node.KEY))
        ok, status = host_node.status(registry.path('registry.db'), node,
                                      self.path('run'), GRACE)
        self.assertFalse(ok)
        self.assertIn("not the registry's main node: that is the node of"
                      " prefix %s (firstcomer@example.com" % (
                          host_node.prefix_bits(
                              registry.node_prefix(first))), status)

    def test_status_without_a_node(self):
        ok, status = host_node.status(self.path('none.db'),
                                      self.path('node'), '/nowhere', GRACE)
        self.assertFalse(ok)
        self.assertIn('not running', status)
        # what root runs: its own tool, on the partition (two levels up)
        self.assertIn('re6st-host-node install %s' % os.path.dirname(
            self.dir), status)
        node = self.path('host-node')
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        ok, status = host_node.status(registry.path('registry.db'), node,
                                      self.path('run'), GRACE)
        self.assertFalse(ok)
        self.assertTrue(status.startswith('not running'), status)
        self.assertNotIn('Warning', status)

    def main_node_and_exit_day(self):
        """A registry whose main node is a host node: (it, the node's
        directory, the day the registry would exit for that node)."""
        node = self.path('host-node')
        registry = RunningRegistry(self.path('registry'), main_node=node)
        self.addCleanup(registry.stop)
        cert = ca.load_certificate(os.path.join(node, host_node.CERT))
        return registry, node, cert.not_valid_after_utc + datetime.timedelta(
            seconds=GRACE)

    def test_a_warning_well_before_the_registry_would_exit(self):
        registry, node, exit_day = self.main_node_and_exit_day()
        for days_left, warned in (46, False), (44, True), (-1, True):
            now = exit_day - datetime.timedelta(days=days_left, hours=1)
            _, status = host_node.status(registry.path('registry.db'), node,
                                         self.path('run'), GRACE, now)
            self.assertEqual('re6st-registry exits on %s' % exit_day.date()
                             in status, warned, (days_left, status))

    @unittest.skipUnless(shutil.which('faketime'), 'faketime is not'
                         ' installed (apt-get install faketime)')
    def test_the_warning_under_faketime(self):
        """The clock of the status's process moved by libfaketime, as a
        clock of the host would: nothing given to it."""
        registry, node, exit_day = self.main_node_and_exit_day()
        for days_left, warned in (46, False), (44, True):
            now = exit_day - datetime.timedelta(days=days_left, hours=1)
            result = subprocess.run(
                ['faketime', now.strftime('%Y-%m-%d %H:%M:%S'),
                 sys.executable, '-c', STATUS, registry.path('registry.db'),
                 node, self.path('run'), str(GRACE)],
                capture_output=True, text=True, timeout=60,
                env=dict(os.environ, TZ='UTC', PYTHONPATH=TOP))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual('re6st-registry exits on %s' % exit_day.date()
                             in result.stdout, warned,
                             (days_left, result.stdout))


class TestRunDirectory(TempDir):

    def test_the_registry_reads_babeld_through_its_run_directory(self):
        run = self.path('node-run')
        os.makedirs(run)
        babeld = Babeld(os.path.join(run, 'babeld.sock'),
                        [('2001:db8:42:1::', 64), ('2001:db8:42:2::', 64)])
        self.addCleanup(babeld.close)
        registry = RunningRegistry(self.path('registry'), run=run,
                                   main_node=self.path('host-node'))
        self.addCleanup(registry.stop)
        registry.admin().call('versions')  # dumps babeld
        self.assertGreaterEqual(babeld.dumps, 1)
        self.assertEqual(host_node.routed_peers(
            os.path.join(run, 'babeld.sock')), 2)
        refused = host_node.routed_peers(self.path('no', 'babeld.sock'))
        self.assertIsInstance(refused, OSError)


class TestQuery(TempDir):

    def test_what_the_node_answers(self):
        node = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.addCleanup(node.close)
        node.bind(('::1', 0))
        port = node.getsockname()[1]

        def answer():
            request, sender = node.recvfrom(100)
            node.sendto(b'noise', sender)
            node.sendto(request + b'127.0.0.1,1194,tcp', sender)
        threading.Thread(target=answer, daemon=True).start()
        self.assertEqual(host_node.query('0000', port=port),
                         ('answered', '127.0.0.1,1194,tcp'))
        self.assertEqual(host_node.query('0000', port=port,
                                         timeout=0.2)[0], 'silent')
        node.close()
        self.assertEqual(host_node.query('0000', port=port)[0], 'refused')


class TestRecipe(TempDir):

    def options(self, **kw):
        options = {'directory': self.path('slappart0', 'srv',
                                          're6st-host-node'),
                   'registry-url': 'http://10.0.0.1:9200/',
                   'registry-db': self.path('registry.db'),
                   'ca': self.path('ca.crt'), 'run': '/var/run/re6stnet',
                   'ips': '', 'default-ips': '2001:db8::1 192.0.2.1',
                   'grace-period': str(GRACE), 'partition': 'slappart0'}
        options.update(kw)
        return options

    def test_data_for_root_only(self):
        """The partition publishes data (node.json, its key), no file root
        would run; the commands name root's own tool."""
        options = self.options()
        directory = options['directory']
        for name in 're6stnet.conf', 'grant-babeld-sock', \
                're6stnet-slappart0.service':  # the previous layout's
            os.makedirs(directory, exist_ok=True)
            files.write(os.path.join(directory, name), 'old')
        before = sorted(os.listdir(directory))
        recipe = Recipe(None, 'host-node', options)
        # made by buildout: nothing written; its key comes with install()
        self.assertEqual(sorted(os.listdir(directory)), before)
        installed = recipe.install()
        node = os.path.join(directory, 'node.json')
        self.assertEqual(installed, [node])
        self.assertEqual(sorted(os.listdir(directory)),
                         ['cert.key', 'node.json'])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(
            directory, 'cert.key')).st_mode), 0o600)
        self.assertEqual(json.loads(files.read(node)), {
            'registry': 'http://10.0.0.1:9200/', 'run': '/var/run/re6stnet',
            'ips': ['2001:db8::1', '192.0.2.1']})
        commands = options['commands']
        self.assertIn('install -o root -g root -m 0755 %s'
                      ' /usr/local/sbin/re6st-host-node' % os.path.join(
                          TOP, 'slapos_re6st', 'root', 're6st_host_node.py'),
                      commands)
        self.assertIn('re6st-host-node install %s' % self.path('slappart0'),
                      commands)
        self.assertIn('re6stnet-slappart0.service', commands)
        # the versions the release runs, read from the installed eggs
        import importlib.metadata
        self.assertIn('pip install re6stnet==%s pyOpenSSL==%s' % (
            importlib.metadata.version('re6stnet'),
            importlib.metadata.version('pyOpenSSL')), commands)
        self.assertTrue(options['status'].startswith('not running'))
        # addresses given: those
        options = self.options(ips='192.0.2.7')
        Recipe(None, 'host-node', options).install()
        self.assertEqual(json.loads(files.read(node))['ips'], ['192.0.2.7'])
