"""Root's own tool (slapos_re6st/root/re6st_host_node.py): the registry's
node installed from what the partition published (by the host-node
recipe), read as data and checked; what it writes names no file of the
partition.  Run here as the tests' user under --root; as root, with a
real re6stnet started from what it wrote: test/netns/test_host_node.py."""
import ast
import json
import os
import stat
import sys

from slapos_re6st.lib import ca, files, host_node
from slapos_re6st.recipe.host_node import Recipe
from slapos_re6st.root import re6st_host_node as tool
from support import TOP
from support.re6st import re6stnet_config
from harness.tempdir import TempDir

RE6STNET = os.path.join(os.path.dirname(sys.executable), 're6stnet')


class TestInstall(TempDir):

    def setUp(self):
        super().setUp()
        self.partition = self.path('slappart7')
        self.published = os.path.join(self.partition, 'srv',
                                      're6st-host-node')
        Recipe(None, 'host-node', {
            'directory': self.published,
            'registry-url': 'http://10.0.0.1:9200/',
            'registry-db': self.path('registry.db'), 'ca': 'unused',
            'run': '/run/re6stnet-test', 'ips': '192.0.2.7 2001:db8::7',
            'grace-period': '1000', 'partition': 'slappart7'}).install()
        # the certificates the registry service writes there
        cert = ca.ensure_ca(self.path('ca', 'ca.key'),
                            self.path('ca', 'ca.crt'),
                            self.path('ca', 'dh.pem'), 1024,
                            '2001:db8:42::/48')
        del cert
        for name in host_node.CERT, host_node.CA:
            files.write(os.path.join(self.published, name),
                        files.read(self.path('ca', 'ca.crt')))
        self.root = self.path('root')
        os.mkdir(self.root)

    def install(self, **kw):
        return tool.install(self.partition, self.root, kw.get(
            're6stnet', RE6STNET))

    def written(self):
        """{path: content} of everything under --root."""
        found = {}
        for top, _, names in os.walk(self.root):
            for name in names:
                path = os.path.join(top, name)
                found[path] = files.read(path, binary=True)
        return found

    def test_installs_where_root_writes_naming_no_partition_file(self):
        where = self.install()
        config = re6stnet_config(where['conf'])
        self.assertEqual(config.registry, 'http://10.0.0.1:9200/')
        self.assertEqual(config.run, '/run/re6stnet-test')
        self.assertEqual(config.ip, ['192.0.2.7', '2001:db8::7'])
        etc = os.path.join(self.root, 'etc', 're6st-host-node', 'slappart7')
        self.assertEqual((config.key, config.cert, config.ca, config.up), (
            os.path.join(etc, 'cert.key'), os.path.join(etc, 'cert.crt'),
            os.path.join(etc, 'ca.crt'), os.path.join(etc, 'up')))
        self.assertEqual(config.state, os.path.join(
            self.root, 'var', 'lib', 're6st-host-node', 'slappart7'))
        self.assertEqual(files.read(config.key), files.read(os.path.join(
            self.published, 'cert.key')))
        self.assertEqual(stat.S_IMODE(os.stat(config.key).st_mode), 0o600)
        unit = os.path.join(self.root, 'etc', 'systemd', 'system',
                            're6stnet-slappart7.service')
        self.assertIn('\nExecStart=%s @%s\n' % (RE6STNET, where['conf']),
                      files.read(unit))
        hook = files.read(config.up)
        self.assertIn('gid=%s ' % os.stat(self.partition).st_gid, hook)
        for path, data in self.written().items():
            self.assertNotIn(self.partition.encode(), data, path)

    def test_a_renewed_certificate_stays(self):
        where = self.install()
        renewed = files.read(self.path('ca', 'ca.crt')).replace(
            'CERTIFICATE-----\n', 'CERTIFICATE-----\nAAAA\n', 1)
        files.write(where['cert'], renewed)
        self.install()
        self.assertEqual(files.read(where['cert']), renewed)
        # another key (a restore): the partition's certificate
        os.unlink(os.path.join(self.published, 'cert.key'))
        host_node.ensure_key(os.path.join(self.published, 'cert.key'), 1024)
        self.install()
        self.assertEqual(files.read(where['cert']), files.read(
            os.path.join(self.published, 'cert.crt')))

    def assertRefused(self, pattern, **kw):
        before = self.written()
        with self.assertRaisesRegex(tool.Refused, pattern):
            self.install(**kw)
        self.assertEqual(self.written(), before)

    def publish(self, name, data):
        path = os.path.join(self.published, name)
        os.unlink(path)
        files.write(path, data)

    def node(self, **changes):
        node = json.loads(files.read(os.path.join(self.published,
                                                  'node.json')))
        node.update(changes)
        self.publish('node.json', json.dumps(node))

    def test_values_are_checked(self):
        self.install()
        evil = '/run/re6stnet; touch /tmp/x'
        for run in '/etc', '/tmp/re6stnet', evil, '/run/re6stnet/../x', 7:
            self.node(run=run)
            self.assertRefused('run .* is not /run/re6stnet')
        self.node(run='/run/re6stnet')
        for url in ('http://10.0.0.1:9200/\nup touch /tmp/x',
                    'http://example.org:9200/', 'http://10.0.0.1:99999/',
                    'https://10.0.0.1:9200/', None):
            self.node(registry=url)
            self.assertRefused('registry .* is not http://ADDRESS:PORT/')
        self.node(registry='http://[2001:db8::1]:9200/')
        self.install()
        for ips in ['192.0.2.1\nup touch /tmp/x'], [], '192.0.2.1', \
                ['192.0.2.1'] * 17:
            self.node(ips=ips)
            self.assertRefused('IP address')
        self.node(ips=['192.0.2.1'])
        self.publish('node.json', '{"run": ')
        self.assertRefused('not JSON')
        self.publish('node.json', '[]')
        self.assertRefused('not a JSON object')

    def test_files_are_checked(self):
        self.install()
        key = files.read(os.path.join(self.published, 'cert.key'))
        self.publish('cert.key', '#!/bin/sh\nid > /tmp/x\n')
        self.assertRefused('cert.key is not one PEM block')
        self.publish('cert.key', key + key)
        self.assertRefused('cert.key is not one PEM block')
        self.publish('cert.key', key)
        self.publish('ca.crt', key)  # a key for a certificate
        self.assertRefused('ca.crt is not one PEM block of CERTIFICATE')
        self.publish('ca.crt', files.read(self.path('ca', 'ca.crt')))
        self.publish('cert.crt', 'x' * (tool.MAX_SIZE + 1))
        self.assertRefused('larger than')
        # symbolic links, on the way or at the end, and other kinds
        os.unlink(os.path.join(self.published, 'cert.crt'))
        os.symlink(self.path('ca', 'ca.crt'),
                   os.path.join(self.published, 'cert.crt'))
        self.assertRefused('symbolic link')
        os.unlink(os.path.join(self.published, 'cert.crt'))
        os.mkfifo(os.path.join(self.published, 'cert.crt'))
        self.assertRefused('not a regular file')
        os.unlink(os.path.join(self.published, 'cert.crt'))
        files.write(os.path.join(self.published, 'cert.crt'),
                    files.read(self.path('ca', 'ca.crt')))
        self.install()
        os.rename(self.published, self.path('elsewhere'))
        os.symlink(self.path('elsewhere'), self.published)
        self.assertRefused('symbolic link')

    def test_the_command_line_is_checked(self):
        self.assertRefused('not an executable',
                           re6stnet=self.path('no-re6stnet'))
        inside = os.path.join(self.partition, 'bin', 're6stnet')
        os.makedirs(os.path.dirname(inside))
        os.symlink(RE6STNET, inside)
        self.assertRefused('in the partition', re6stnet=inside)
        with self.assertRaisesRegex(tool.Refused, 'cannot be read'):
            tool.install(self.path('nothing'), self.root, RE6STNET)
        with self.assertRaisesRegex(tool.Refused, 'not a directory'):
            tool.install(RE6STNET, self.root, RE6STNET)
        os.chmod(self.root, 0o777)
        self.assertRefused('only root .* writes')
        os.chmod(self.root, 0o755)

    def test_main_says_one_sentence(self):
        self.node(run='/etc')
        self.assertEqual(tool.main(['install', self.partition, '--root',
                                    self.root, '--re6stnet', RE6STNET]), 1)
        self.node(run='/run/re6stnet')
        self.assertEqual(tool.main(['install', self.partition, '--root',
                                    self.root, '--re6stnet', RE6STNET]), 0)


class TestStandalone(TempDir):

    def test_standard_library_only_python_3_9(self):
        """Root copies the file alone and runs it with the system's
        Python: no import but the standard library's, 3.9 syntax."""
        path = os.path.join(TOP, 'slapos_re6st', 'root', 're6st_host_node.py')
        with open(path) as f:
            text = f.read()
        tree = ast.parse(text, path, feature_version=(3, 9))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                self.assertEqual(node.level, 0, node.lineno)
                names = [node.module]
            else:
                continue
            for name in names:
                self.assertIn(name.split('.')[0], sys.stdlib_module_names)
        self.assertTrue(text.startswith('#!/usr/bin/python3\n'))
