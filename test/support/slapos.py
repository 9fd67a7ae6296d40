"""The release on slapos.core's embedded SlapOS (slapos.testing), shared
by the suites of test/standalone.

The software is supplied by URL, as a SlapOS Master does: this checkout is
served over HTTP on loopback for the time of the tests.  It is built from
scratch whenever the release changed (PyPI's buildout appends a [buildout]
section to .installed.cfg on every re-run, which slapos.testing's software
check refuses), and not rebuilt otherwise.  slapos.testing's SBOM step is
skipped: nxdbom only knows the SlapOS buildout fork's conventions.
"""
import functools
import hashlib
import http.server
import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request

from cryptography import x509
from slapos.testing.testcase import (
    installSoftwareUrlList, makeModuleSetUpAndTestCaseClass)
from slapos.testing.utils import getPortFromPath

from slapos_re6st.lib import ca, files, host_node
from slapos_re6st.lib.process import read_pidfile

from . import TOP
from .re6st import run_conf

WORKING_DIR = os.path.realpath(os.environ['SLAPOS_TEST_WORKING_DIR'])
SOFTWARE_ID = 're6st-registry'
# re6st-registry's private RPCs: allowed only from its authorized origins,
# with the partition's admin secret (slapos_re6st/lib/admin.py) in
# ADMIN_HEADER.
ADMIN_HEADER = 'X-Re6st-Admin'
ADMIN_SECRET = ('etc', 're6st-registry-admin.secret')
PRIVATE_RPCS = ('isToken', 'deleteToken', 'addToken', 'revoke', 'updateHMAC',
                'getNodePrefix', 'getIPv6Address', 'getIPv4Information',
                'versions', 'topology')


class QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass


def serve_directory(directory, port_path):
    """Serve `directory` on loopback (port chosen from `port_path`, as
    slapos.testing does): its URL, ending with /."""
    port = getPortFromPath(port_path)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', port), functools.partial(QuietHandler,
                                               directory=directory))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return 'http://127.0.0.1:%s/' % port


def release_digest():
    """Changes whenever anything the software build reads changes:
    software.cfg itself, and every sibling through buildout.hash.cfg."""
    return files.digest_of([os.path.join(TOP, name) for name in (
        'software.cfg', 'buildout.hash.cfg')])


os.environ['SLAPOS_TEST_SOFTWARE_ROOT_URL'] = serve_directory(
    TOP, os.path.join(WORKING_DIR, 'software-http'))
os.environ['SLAPOS_TEST_SOFTWARE_ROOT_DIR'] = TOP
_MARKER = os.path.join(WORKING_DIR, '.release-digest')
_BUILT = None
if os.path.exists(_MARKER):
    with open(_MARKER) as f:
        _BUILT = f.read()
_, InstanceTestCase = makeModuleSetUpAndTestCaseClass(
    os.path.join(TOP, 'software.cfg'), software_id=SOFTWARE_ID,
    skip_software_rebuild=_BUILT == release_digest())
# Every waitForInstance re-runs every partition, as `slapos node instance`
# does periodically on a real node: what survives it survives reality.
# (StandaloneSlapOS has no public switch for it.)
InstanceTestCase.slap._force_slapos_node_instance_all = True


def software_path():
    url = InstanceTestCase.getSoftwareURL()
    return os.path.join(InstanceTestCase.slap.software_directory,
                        hashlib.md5(url.encode()).hexdigest())


# the release (its digest) built and checked by an earlier module of this
# run: the next modules take the software as it is, as slapos.testing does
# when told to skip the rebuild (it would run buildout --all, 2 minutes, and
# its checks again for each module)
_CHECKED = []


def setUpModule():
    """Build (and check) the software as slapos.testing does, from scratch
    when the release changed since the last build; once a run."""
    cls = InstanceTestCase
    url = cls.getSoftwareURL()
    digest = release_digest()
    if digest in _CHECKED:
        cls.slap.start()
        cls.slap.supply(url)
        cls.slap.waitForSoftware(max_retry=2)
        return
    if _BUILT != digest and os.path.exists(software_path()):
        cls.slap.start()
        cls.slap.supply(url, state='destroyed')
        cls.slap.waitForSoftware(max_retry=2)
    installSoftwareUrlList(cls, [url])
    with open(_MARKER, 'w') as f:
        f.write(digest)
    _CHECKED.append(digest)


def tearDownModule():
    """Leave nothing running: stop the embedded SlapOS if slapos.testing
    did not (its data stays for the next run)."""
    try:
        InstanceTestCase.slap.stop()
    except OSError:  # its supervisord socket is gone: already stopped
        pass


def params(**kw):
    return {'_': json.dumps(kw)}


def connection(partition):
    return json.loads(partition.getConnectionParameterDict()['_'])


# published readings of something outside the instance, which change by
# themselves: the registry's own node (none runs on the embedded SlapOS)
# is "being made" until the registry first starts
VOLATILE = ('host-node-status',)


def steady(published):
    """Connection parameters without their volatile readings."""
    return {k: v for k, v in published.items() if k not in VOLATILE}


def service_pids(partition_path):
    """{service: PID of its command} as re6st-service writes them: what a
    restart of that service changes, and nothing else does."""
    run = os.path.join(partition_path, 'var', 'run')
    return {name[:-len('.pid')]: read_pidfile(os.path.join(run, name))[0]
            for name in os.listdir(run) if name.endswith('.pid')}


def get(url, headers=None):
    """(HTTP status, body) of a GET; never raises for an HTTP error (the
    tests that look at statuses and headers: everything else talks to the
    registry with re6st's own client)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def admin_headers(partition_path):
    """The header the registry's private RPCs need, with the secret of the
    partition at `partition_path`."""
    with open(os.path.join(partition_path, *ADMIN_SECRET)) as f:
        return {ADMIN_HEADER: f.read().strip()}


def answers(url):
    """Whether the registry at `url` answers getCa now (False while it is
    down or restarting)."""
    try:
        return get(url + 'getCa')[0] == 200
    except OSError:
        return False


def get_ca(url):
    status, body = get(url + 'getCa')
    assert status == 200, (url, status, body)
    return x509.load_pem_x509_certificate(body)


class RegistryTestCase(InstanceTestCase):
    """One registry partition requested with the class's `request`."""
    partition_count = 1
    request = {}

    @classmethod
    def getInstanceParameterDict(cls):
        return params(**cls.request)

    def setUp(self):
        self.published = connection(self.computer_partition)
        self.tmp = tempfile.mkdtemp(dir=WORKING_DIR)

    def path(self, *names):
        # the only partition: that of the instance requested again too
        return os.path.join(self.computer_partition_root_path, *names)

    def pids(self):
        return service_pids(self.computer_partition_root_path)

    def assertHostNodeIsTheMainNode(self):
        """The registry's main node (its first certificate) is this
        partition's host node, whose copy of the CA is the registry's
        (re6stnet checks its certificate against it)."""
        node = self.path('srv', 're6st-host-node')
        _, _, cert = host_node.main_node(self.path('srv', 're6st-registry',
                                                   'registry.db'))
        self.assertEqual(cert, ca.load_certificate(os.path.join(
            node, host_node.CERT)))
        self.assertEqual(
            files.read(os.path.join(node, host_node.CA), binary=True),
            files.read(self.path('srv', 're6st-ca', 'ca.crt'), binary=True))

    def admin_get(self, query, published=None):
        """(status, body) of the private RPC `query` ('isToken?token=x')
        on the registry itself (of `published`, default this instance's),
        with this partition's admin secret."""
        published = published or self.published
        return get(published['re6stry-local-url'] + query,
                   admin_headers(self.path()))

    def add_token(self, token, email='node@example.com'):
        status, _ = self.admin_get('addToken?email=%s&token=%s' % (
            email, token))
        self.assertEqual(status, 204)

    def join(self, token, *args, published=None):
        """re6st-conf with `token` through re6stry-url (of `published`,
        default this instance's): (its result, the node's directory)."""
        published = published or self.published
        directory = tempfile.mkdtemp(dir=self.tmp)
        return run_conf(published['re6stry-url'], directory, '--fingerprint',
                        published['ca-fingerprint'], '--token', token,
                        *args), directory

    def joined(self, token, *args, published=None):
        """The directory of a node that joined with `token`."""
        result, directory = self.join(token, *args, published=published)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return directory

    def join_node(self, token, *args):
        """A node joined with `token`, added first: its directory."""
        self.add_token(token)
        return self.joined(token, *args)

    def request_with(self, **changes):
        """The instance requested with the class's parameters and
        `changes`, run; the partition as requested (for its connection
        parameters)."""
        def request():
            return self.slap.request(
                self.getSoftwareURL(), self.default_partition_reference,
                self.getInstanceSoftwareType(),
                partition_parameter_kw=params(**dict(self.request,
                                                     **changes)))
        request()
        self.waitForInstance()
        return request()

    def restore_request(self):
        """The instance as the class requests it, again."""
        self.requestDefaultInstance()
        self.waitForInstance()

    def supervisor_processes(self):
        """{service name: supervisor process info} of this partition."""
        services = {}
        with self.slap.instance_supervisor_rpc as supervisor:
            for info in supervisor.getAllProcessInfo():
                if info['group'] != self.computer_partition.getId():
                    continue
                # slapos names a program after its wrapper (with the hash
                # wrapper adds when hash-files is set) plus "-on-watch"
                name = re.sub('(-[0-9a-f]{32})?-on-watch$', '', info['name'])
                services[name] = info
        return services
