"""The release on slapos.core's embedded SlapOS (slapos.testing), shared
by the modules of test/standalone, as SlapOS's test runner
(slapos-sr-testing) runs them: `python -m unittest discover -v` in test/,
with the test egg installed and the runner's variables
(SLAPOS_TEST_IPV4/IPV6/WORKING_DIR, SLAPOS_SR_TEST_NAME and, where set,
SLAPOS_TEST_SKIP_SOFTWARE_CHECK/REBUILD, SLAPOS_TEST_SHARED_PART_LIST,
SLAPOS_TEST_LOG_DIRECTORY, SLAPOS_TEST_SOFTWARE_ROOT_URL/DIR).

slapos.testing builds, checks (SBOM included) and serves the software with
its own defaults; this module sets none of the runner's variables, except
that, run outside the runner (no SLAPOS_TEST_SOFTWARE_ROOT_URL/DIR), it
serves this checkout over HTTP on loopback as the runner's web server
does.  The software is built and checked once per test process (the first
module's setUpModule; the next ones only start the embedded SlapOS).

Tests that take over a minute (the attack and load tests) run only when
RE6ST_TEST_LONG=1 (see long_test).
"""
import functools
import hashlib
import http.server
import json
import os
import re
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

from cryptography import x509
from slapos.testing.testcase import makeModuleSetUpAndTestCaseClass
from slapos.testing.utils import getPortFromPath

from . import TOP
from .partition import main_node_certificate, service_pids
from .re6st import load_certificate, run_conf

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


def long_test(test):
    """A test over a minute long (attack, load): run only when asked with
    RE6ST_TEST_LONG=1, as SlapOS's CI time is shared (make test asks)."""
    return unittest.skipUnless(
        os.environ.get('RE6ST_TEST_LONG') == '1',
        'over a minute long: set RE6ST_TEST_LONG=1 to run it')(test)


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


if not (os.environ.get('SLAPOS_TEST_SOFTWARE_ROOT_URL')
        and os.environ.get('SLAPOS_TEST_SOFTWARE_ROOT_DIR')):
    # outside SlapOS's runner: serve the checkout as its web server does
    os.environ['SLAPOS_TEST_SOFTWARE_ROOT_URL'] = serve_directory(
        TOP, os.path.join(WORKING_DIR, 'software-http'))
    os.environ['SLAPOS_TEST_SOFTWARE_ROOT_DIR'] = TOP

_setUpModule, _InstanceTestCase = makeModuleSetUpAndTestCaseClass(
    os.path.join(TOP, 'software.cfg'), software_id=SOFTWARE_ID)


class InstanceTestCase(_InstanceTestCase):
    """slapos.testing's test case, whose every waitForInstance processes
    every partition, as `slapos node instance` does periodically on a real
    node: what survives it survives reality."""

    @classmethod
    def waitForInstance(cls):
        process_every_partition(cls.slap)
        super().waitForInstance()

    @classmethod
    def instance_run(cls, **kw):
        """`slapos node instance` on every partition (keywords: those of
        StandaloneSlapOS.waitForInstance, like error_lines), as
        waitForInstance does."""
        process_every_partition(cls.slap)
        cls.slap.waitForInstance(**kw)


def software_path():
    """The software's folder in the embedded SlapOS (named after the URL
    it is served at)."""
    url = InstanceTestCase.getSoftwareURL()
    return os.path.join(InstanceTestCase.slap.software_directory,
                        hashlib.md5(url.encode()).hexdigest())


# slapos.testing's setUpModule's outcome, once per process: the first
# module builds and checks the software; the next ones only start the
# embedded SlapOS (a failure is the failure of every module)
_SET_UP = []


def setUpModule():
    """slapos.testing's setUpModule (build, checks, SBOM) once a
    process."""
    if _SET_UP:
        if _SET_UP[0] is not None:
            raise _SET_UP[0]
        InstanceTestCase.slap.start()
        return
    try:
        _setUpModule()
    except BaseException as e:
        _SET_UP.append(e)
        raise
    _SET_UP.append(None)


def tearDownModule():
    """Leave nothing running: stop the embedded SlapOS if slapos.testing
    did not (its data stays for the next run)."""
    try:
        InstanceTestCase.slap.stop()
    except OSError:  # its supervisord socket is gone: already stopped
        pass


def log_directory(slap):
    """The embedded SlapOS's log folder (var/log beside its inst/, where
    StandaloneSlapOS puts the slapos node logs)."""
    return os.path.join(os.path.dirname(slap.instance_directory), 'var',
                        'log')


def process_every_partition(slap):
    """Have the next `slapos node instance` process every partition, as a
    real node does periodically (slapos.core skips a partition whose
    .timestamp is newer than its parameters): removing their .timestamp is
    the public way to ask for it."""
    for name in os.listdir(slap.instance_directory):
        stamp = os.path.join(slap.instance_directory, name, '.timestamp')
        if os.path.exists(stamp):
            os.remove(stamp)


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
        pem = main_node_certificate(self.path('srv', 're6st-registry',
                                              'registry.db'))
        self.assertIsNotNone(pem)
        self.assertEqual(x509.load_pem_x509_certificate(pem),
                         load_certificate(os.path.join(node, 'cert.crt')))
        self.assertEqual(
            load_certificate(os.path.join(node, 'ca.crt')),
            load_certificate(self.path('srv', 're6st-ca', 'ca.crt')))

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
