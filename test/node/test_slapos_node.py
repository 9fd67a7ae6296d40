"""The release on a SlapOS node as SlapOS's node packages make one (run as
root: `make test-node`): Debian 11 and its Python 3.9, slapos.core 1.22.1,
zc.buildout 3.0.1 and setuptools 67.8.0 (the base versions of SlapOS's
fork, 3.0.1+slapos010, which cannot be downloaded here: what the fork
patches is not run, see test/unit/test_rebootstrap.py).

`slapos node software` builds the release from an http URL: the node has
no Python >= 3.11, so the release builds CPython from the tarball its
profile names, found in buildout's download cache (Debian's source package
of that version, checked against the profile's md5sum: nothing else of the
release is given to it).  Then `slapos node instance` deploys a registry
and a token instance, and a real re6st-conf (from PyPI, outside the node)
joins with what they publish.  Loopback only: the node shares this
machine's network (127.0.13.1, ::1), for PyPI and the http URL.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from support import TOP
from support.host import work
from support.node import ROOTFS, USER, Node, python_source
from support.re6st import node_certificate, run_conf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

IPV4 = '127.0.13.1'
HTTP_PORT = 19399
PROXY_PORT = 19396
# (the forward also listens at the next free port after it, on the
# partition's IPv4, where the host's port redirection leads: 19398)
FORWARD_PORT = 19397
URL = 'http://%s:%s/software.cfg' % (IPV4, HTTP_PORT)
# in the node
RELEASE = '/srv/release'
CACHE = '/srv/download-cache'
BASE = '/home/slapuser/slapos'
DRIVER = '/srv/driver.py'
SLAPOS_PYTHON = '/opt/slapos/bin/python'


def release_files():
    """The files of this checkout a release URL serves: tracked or new,
    as they are now."""
    listed = subprocess.run(
        ['git', '-C', TOP, 'ls-files', '--cached', '--others',
         '--exclude-standard'], capture_output=True, text=True, check=True)
    return [path for path in listed.stdout.splitlines()
            if os.path.isfile(os.path.join(TOP, path))
            and not path.startswith(('test/', 'tools/', 'docs/', '.'))]


class TestSlapOSNode(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.getuid():
            raise unittest.SkipTest('needs root (`make test-node`)')
        cls.node = Node(ROOTFS)
        cls.log = os.path.join(work(), 'node-test.log')
        cls.node.__enter__()
        cls.addClassCleanup(cls.node.__exit__)
        for directory in RELEASE, CACHE, BASE:
            shutil.rmtree(cls.node.join(directory.lstrip('/')),
                          ignore_errors=True)
        for path in release_files():
            target = cls.node.join(RELEASE.lstrip('/'), path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(TOP, path), target)
        python_source(cls.node.join(CACHE.lstrip('/')))
        shutil.copyfile(os.path.join(TOP, 'test', 'node', 'driver.py'),
                        cls.node.join(DRIVER.lstrip('/')))
        cls.node.run('chmod -R a+rX %s %s && chown -R %s: %s' % (
            RELEASE, DRIVER, USER, CACHE))
        server = subprocess.Popen(cls.node.command(
            'exec python3 -m http.server --bind %s --directory %s %s'
            % (IPV4, RELEASE, HTTP_PORT), user=True),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.addClassCleanup(server.wait)
        cls.addClassCleanup(server.terminate)
        cls.addClassCleanup(cls.node.run, '%s %s stop %s %s %s' % (
            SLAPOS_PYTHON, DRIVER, BASE, IPV4, PROXY_PORT), user=True,
            check=False)
        with open(cls.log, 'w') as log:
            deployed = cls.node.run('%s %s deploy %s %s %s %s %s %s' % (
                SLAPOS_PYTHON, DRIVER, BASE, URL, IPV4, PROXY_PORT,
                FORWARD_PORT, CACHE), user=True, stdout=subprocess.PIPE,
                stderr=log, text=True, check=False)
        if deployed.returncode:
            with open(cls.log) as f:
                raise AssertionError('The deployment failed (%s):\n%s' % (
                    cls.log, f.read()[-6000:]))
        cls.deployed = json.loads(deployed.stdout.splitlines()[-1])
        cls.software = cls.node.join(cls.deployed['software'].lstrip('/'))

    def in_node(self, path):
        return self.node.join(path.lstrip('/'))

    def test_the_release_runs_on_its_own_python(self):
        release_python = os.path.join(
            self.deployed['software'], 'parts', 'release-python', 'bin',
            'python')
        with open(os.path.join(self.software, 'bin', 're6st-registry')) as f:
            self.assertEqual(f.readline().strip(), '#!' + release_python)
        with open(os.path.join(self.software, 'bin',
                               'bootstrap-instance')) as f:
            self.assertTrue(f.readline().startswith('#!' + release_python))
        version = self.node.run(release_python + ' -c "import sys;'
                                ' print(sys.version_info[:2])"', user=True,
                                capture_output=True, text=True).stdout
        self.assertEqual(version.strip(), '(3, 11)')
        # built here, from the download cache: the node has no Python 3.11
        self.assertTrue(os.path.exists(os.path.join(
            self.software, 'parts', 'python3.11', '.release-python')))
        # the registry's process itself
        pidfile = self.in_node(os.path.join(
            self.deployed['instance'], 'slappart0', 'var', 'run',
            're6st-registry.pid'))
        with open(pidfile) as f:
            pid = int(f.readline())
        exe = os.readlink('/proc/%s/exe' % pid)
        self.assertTrue(re.search(r'/parts/python3\.11/bin/python3\.11$',
                                  exe), exe)

    def test_a_node_joins_with_what_is_published(self):
        registry, token = self.deployed['registry'], self.deployed['token']
        with urllib.request.urlopen(registry['re6stry-url'] + 'getCa',
                                    timeout=30) as answer:
            ca = x509.load_pem_x509_certificate(answer.read())
        self.assertEqual(
            'sha256:' + ca.fingerprint(hashes.SHA256()).hex(),
            registry['ca-fingerprint'])
        self.assertEqual(token['re6stry-url'], registry['re6stry-url'])
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        joined = run_conf(token['re6stry-url'], directory, '--fingerprint',
                          token['ca-fingerprint'], '--token', token['token'])
        self.assertEqual(joined.returncode, 0, joined.stdout + joined.stderr)
        certificate = node_certificate(directory)
        self.assertEqual(certificate.issuer, ca.subject)
        self.assertEqual(ca.public_bytes(serialization.Encoding.PEM),
                         open(os.path.join(directory, 'ca.crt'), 'rb').read())
