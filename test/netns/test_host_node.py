"""As root, in a network namespace of its own (the Makefile runs this
suite under `unshare -n`, loopback only): the registry deployed by `make
run`, and a real re6stnet 0.642 node installed by root's own tool
(re6st-host-node install, copied once out of the release as
host-node-commands says) from what the partition publishes, and started
as its unit says, as the registry's own node.  re6stnet needs Nexedi's
babeld (Debian's refuses its -X option) and starts OpenVPN: both are
stand-ins here (test/support/stubs: babeld answers on its control socket
in re6st's protocol, routes nothing; OpenVPN carries nothing); re6stnet
is the tests' own copy, made root's in a virtual environment of root's
(as root installs it in /opt/re6stnet); everything else is real:
re6stnet, re6st-registry, re6st-conf, the UDP queries, the promise run by
slapos.core's runner.  What root installs goes under a directory of its
own (--root) instead of /."""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from cryptography.hazmat.primitives.asymmetric import padding

from slapos_re6st.lib import ca, host_node
from support import TEST, until
from support.host import (
    as_user, last_json, make, registry_partition, work)
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
        # re6stnet makes it (0700) and deletes it on exit: root's tool
        # takes /run/re6stnet[-NAME] only
        cls.run_dir = '/run/re6stnet-test-%s' % uuid.uuid4().hex[:8]
        cls.params = {'host-node-run': cls.run_dir,
                      'host-node-ip': ['127.0.0.1']}
        cls.node = None
        # (also when make run fails: what it started stops)
        cls.addClassCleanup(make, 'stop')
        cls.addClassCleanup(cls.stop_node)
        cls.root = tempfile.mkdtemp(prefix='re6st-host-root-')  # root's
        os.chmod(cls.root, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        cls.re6stnet = cls.root_re6stnet()
        cls.published = last_json(make('run', PARAMS=json.dumps(
            cls.params)))
        cls.tool = cls.copy_tool(cls.published['host-node-commands'])

    @classmethod
    def root_re6stnet(cls):
        """re6stnet in a virtual environment of root's (as root installs
        it in /opt/re6stnet): the tests' own re6stnet and its
        dependencies, copied."""
        venv = os.path.join(cls.root, 'opt', 're6stnet')
        subprocess.run(['/usr/bin/python3', '-m', 'venv', '--without-pip',
                        venv], check=True)
        site = glob.glob(os.path.join(venv, 'lib', 'python3*',
                                      'site-packages'))[0]
        shutil.rmtree(site)
        shutil.copytree(glob.glob(os.path.join(
            work(), 'venv', 'lib', 'python3*', 'site-packages'))[0], site,
            symlinks=True)
        # (none of the tests' own paths: .pth files naming directories)
        for pth in glob.glob(os.path.join(site, '*.pth')):
            with open(pth) as f:
                if not f.read().startswith('import '):
                    os.remove(pth)
        for top, dirs, names in os.walk(venv):
            for name in dirs + names:
                os.lchown(os.path.join(top, name), 0, 0)
        script = os.path.join(venv, 'bin', 're6stnet')
        with open(script, 'w') as f:
            f.write('#!%s\nimport sys\nfrom re6st.cli.node import main\n'
                    'sys.exit(main())\n' % os.path.join(venv, 'bin',
                                                         'python3'))
        os.chmod(script, 0o755)
        return script

    @classmethod
    def copy_tool(cls, commands):
        """Root's copy of its tool, made once as `commands` say: its
        path."""
        match = re.search(r'`install -o root -g root -m 0755 (\S+)'
                          r' /usr/local/sbin/re6st-host-node`', commands)
        assert match, commands
        cls.tool_source = match.group(1)
        tool = os.path.join(cls.root, 'usr', 'local', 'sbin',
                            're6st-host-node')
        os.makedirs(os.path.dirname(tool))
        shutil.copyfile(cls.tool_source, tool)
        os.chmod(tool, 0o755)
        return tool

    @classmethod
    def install(cls):
        """`re6st-host-node install <partition>`, as the commands say,
        with root's copy of the tool: the completed process."""
        install = 're6st-host-node install %s' % registry_partition()
        assert '`%s`' % install in cls.published['host-node-commands']
        return subprocess.run(
            [cls.tool, 'install', registry_partition(), '--root', cls.root,
             '--re6stnet', cls.re6stnet], capture_output=True, text=True,
            timeout=60)

    @classmethod
    def unit_command(cls):
        """The command of the unit root's tool installed."""
        unit, = glob.glob(os.path.join(cls.root, 'etc', 'systemd', 'system',
                                       're6stnet-*.service'))
        with open(unit) as f:
            command, = re.findall(r'^ExecStart=(.*)$', f.read(), re.M)
        return command.split()

    @classmethod
    def start_node(cls):
        """The node started as its unit says (after an install)."""
        cls.node = subprocess.Popen(
            cls.unit_command(),
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
        self.assertIn('re6st-host-node install', status)
        result = self.install()
        self.assertEqual(result.returncode, 0, result.stderr)
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
        self.assertIn('re6st-host-node install', result.stdout + result.stderr)
        published = last_json(make('run', PARAMS=json.dumps(self.params)))
        self.assertTrue(published['host-node-status'].startswith(
            'not running'), published['host-node-status'])

    def installed(self):
        """{path: digest} of everything root's tool wrote."""
        found = {}
        for top, _, names in os.walk(os.path.join(self.root, 'etc')):
            for name in names:
                with open(os.path.join(top, name), 'rb') as f:
                    found[os.path.join(top, name)] = hashlib.sha256(
                        f.read()).hexdigest()
        return found

    def test_root_runs_nothing_the_partition_writes(self):
        """As the partition's user, every file the published commands
        name is rewritten to run `id` into a marker, and the names of the
        previous layout's files too; root then starts the node it
        installed, and runs its own tool again: nothing writes the
        marker, the tool refuses what it reads, the node runs."""
        partition = registry_partition()
        commands = self.published['host-node-commands']
        # what root runs or reads as configuration is nowhere in the
        # partition: the commands name its directory (the tool's
        # argument) and the tool's source in the release (copied once)
        named = set(re.findall(r'(/[^\s`(),]+)', commands))
        self.assertIn(partition, named)
        self.assertIn(self.tool_source, named)
        result = self.install()
        self.assertEqual(result.returncode, 0, result.stderr)
        installed = self.installed()
        for path in installed:
            with open(path, 'rb') as f:
                self.assertNotIn(partition.encode(), f.read(), path)
        marker = '/tmp/re6st-root-ran-%s' % uuid.uuid4().hex
        self.addCleanup(lambda: os.path.exists(marker) and os.remove(marker))
        evil = '#!/bin/sh\nid > %s\n' % marker
        published = os.path.join(partition, 'srv', 're6st-host-node')
        # every file the commands name that the partition's user can
        # write (the tool's source), every file the partition publishes,
        # and those root ran before
        targets = {path for path in named if os.path.isfile(path) and
                   as_user('test', '-w', path).returncode == 0} | {
            os.path.join(published, name) for name in os.listdir(published)
            } | {os.path.join(published, name) for name in (
                're6stnet.conf', 'grant-babeld-sock', 'up',
                're6stnet-%s.service' % os.path.basename(partition))}
        self.assertIn(self.tool_source, targets)
        saved = {}
        for path in targets:
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    saved[path] = (f.read(), os.stat(path))
        self.addCleanup(self.restore, saved)
        for path in sorted(targets):
            if path.endswith('node.json'):
                text = json.dumps({
                    'registry': 'http://127.0.0.1:9200/\nup id > ' + marker,
                    'run': '%s; id > %s' % (self.run_dir, marker),
                    'ips': ['127.0.0.1\nup id > %s' % marker]})
            elif path.endswith('.conf'):
                text = 'up id > %s\n' % marker
            elif path.endswith('.service'):
                text = '[Service]\nExecStart=/bin/sh -c "id > %s"\n' % marker
            else:
                text = evil
            write = as_user('sh', '-c', 'cat > "$1" && chmod 755 "$1"', 'sh',
                            path, input=text)
            self.assertEqual(write.returncode, 0, (path, write.stderr))
        # root starts what it installed: none of that runs
        self.start_node()
        until('babeld\'s socket given to the partition (root\'s hook)',
              lambda: as_user('test', '-r', os.path.join(
                  self.run_dir, 'babeld.sock')).returncode == 0, 30)
        # and runs its own tool again: refused, nothing changed
        result = self.install()
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                         result.stderr)
        self.assertIn('re6st-host-node: ', result.stderr)
        self.assertEqual(self.installed(), installed)
        self.stop_node()
        self.assertFalse(os.path.exists(marker), 'root ran a file of the'
                         ' partition')
        self.assertEqual(os.stat(self.tool).st_uid, 0)

    def restore(self, saved):
        for path, (data, st) in saved.items():
            with open(path, 'wb') as f:
                f.write(data)
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)
        for path in glob.glob(os.path.join(
                registry_partition(), 'srv', 're6st-host-node', '*')):
            if path not in saved:
                os.remove(path)
