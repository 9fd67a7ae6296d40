"""As root, in a network namespace of its own (the Makefile runs this
suite under `unshare -n`, loopback only): the registry deployed by `make
run`, and a real re6stnet 0.642 node started by root from the files and
command it publishes, as the registry's own node.  re6stnet needs
Nexedi's babeld (Debian's refuses its -X option) and starts OpenVPN:
both are stand-ins here (test/support/stubs: babeld answers on its
control socket in re6st's protocol, routes nothing; OpenVPN carries
nothing), everything else is real: re6stnet, re6st-registry, re6st-conf,
the UDP queries, the promise run by slapos.core's runner."""
import glob
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from cryptography.hazmat.primitives.asymmetric import padding

from slapos_re6st.lib import ca, host_node
from support import TEST, until
from support.host import as_user, last_json, make, registry_partition, work
from support.re6st import node_client, run_conf

STUBS = os.path.join(TEST, 'support', 'stubs')


def in_own_namespace():
    """Whether this process is in a network namespace of its own, as
    `unshare -n` makes one: loopback is its only interface."""
    return [name for _, name in socket.if_nameindex()] == ['lo']


@unittest.skipUnless(os.geteuid() == 0 and in_own_namespace(),
                     'root, in a network namespace of its own (make test'
                     ' as root runs it so)')
class TestHostNode(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.run_dir = tempfile.mkdtemp(prefix='re6st-node-run-')
        os.rmdir(cls.run_dir)  # re6stnet makes it, 0700
        cls.params = {'host-node-run': cls.run_dir,
                      'host-node-ip': ['127.0.0.1']}
        cls.node = None
        # (also when make run fails: what it started stops)
        cls.addClassCleanup(make, 'stop')
        cls.addClassCleanup(cls.stop_node)
        cls.published = last_json(make('run', PARAMS=json.dumps(
            cls.params)))

    @classmethod
    def start_node(cls):
        directory = os.path.join(registry_partition(), 'srv',
                                 're6st-host-node')
        command = cls.published['host-node-commands']
        conf = os.path.join(directory, 're6stnet.conf')
        assert 're6stnet @%s' % conf in command, command
        cls.node = subprocess.Popen(
            [os.path.join(work(), 'venv', 'bin', 're6stnet'), '@' + conf],
            env=dict(os.environ, PATH=STUBS + os.pathsep + os.environ[
                'PATH']), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        prefix = cls.main_prefix()
        until('the node answering', lambda: host_node.query(
            prefix, timeout=0.5)[0] == 'answered', 60, 0.2)

    @classmethod
    def stop_node(cls):
        if cls.node is not None and cls.node.poll() is None:
            cls.node.send_signal(signal.SIGTERM)
            cls.node.wait(60)
        cls.node = None

    @classmethod
    def main_prefix(cls):
        return host_node.main_node(os.path.join(
            registry_partition(), 'srv', 're6st-registry',
            'registry.db'))[0]

    def anomaly(self):
        """The host node's promise, as monitoring runs it (anomaly)."""
        import slapos.grid.promise
        from slapos.grid.utils import getPythonExecutableFromSoftwarePath
        partition = registry_partition()
        software, = glob.glob(os.path.join(work(), 'slapos', 'soft', '*'))
        plugins = os.path.join(partition, 'etc', 'plugin')
        return as_user(
            getPythonExecutableFromSoftwarePath(software),
            os.path.join(os.path.dirname(slapos.grid.promise.__file__),
                         'runpromises.py'),
            '--promise-folder', plugins, '--partition-folder', partition,
            '--legacy-promise-folder', os.path.join(partition, 'etc',
                                                    'promise'),
            '--log-folder', os.path.join(partition, 'var', 'log'),
            '--force', '--check-anomaly', timeout=120)

    def test_the_registry_bootstraps_nodes_through_its_node(self):
        status = self.published['host-node-status']
        self.assertTrue(status.startswith('not running'), status)
        self.assertIn('re6stnet @', status)
        self.start_node()
        # the registry reads babeld through the node's run directory
        self.assertEqual(as_user('test', '-r', os.path.join(
            self.run_dir, 'babeld.sock')).returncode, 0)
        # a new node asks for its first peer: the host node, at once
        token = last_json(make('token', 'NAME=second-node'))
        self.addCleanup(make, 'drop-token', 'NAME=second-node')
        directory = tempfile.mkdtemp()
        joined = run_conf(token['re6stry-url'], directory, '--fingerprint',
                          token['ca-fingerprint'], '--token',
                          token['token'])
        self.assertEqual(joined.returncode, 0, joined.stderr)
        client, cert = node_client(token['re6stry-url'], directory)
        start = time.monotonic()
        answer = client.getBootstrapPeer(cert.prefix)
        self.assertLess(time.monotonic() - start, 1)
        key = ca.load_key(os.path.join(directory, 'cert.key'))
        prefix, address = key.decrypt(answer, padding.PKCS1v15()
                                      ).decode().split()
        self.assertEqual(prefix, self.main_prefix())
        self.assertTrue(address.startswith('127.0.0.1,'), address)
        # the instance says so, and monitoring is content
        published = last_json(make('run', PARAMS=json.dumps(self.params)))
        self.assertTrue(published['host-node-status'].startswith(
            'running: '), published['host-node-status'])
        result = self.anomaly()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # stopped: monitoring names the command to run
        self.stop_node()
        result = self.anomaly()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('re6stnet @', result.stdout + result.stderr)
        published = last_json(make('run', PARAMS=json.dumps(self.params)))
        self.assertTrue(published['host-node-status'].startswith(
            'not running'), published['host-node-status'])
