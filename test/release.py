"""The release on slapos.core's embedded SlapOS, shared by the test suites.

The software is supplied by URL, as a SlapOS Master does: this checkout is
served over HTTP on loopback for the time of the tests.
"""
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from cryptography import x509
from slapos.testing.testcase import (
    installSoftwareUrlList, makeModuleSetUpAndTestCaseClass)
from slapos.testing.utils import getPortFromPath

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKING_DIR = os.path.realpath(os.environ['SLAPOS_TEST_WORKING_DIR'])
BIN = os.path.dirname(sys.executable)
# re6st-registry's private RPCs: allowed only from its authorized origins.
PRIVATE_RPCS = ('isToken', 'deleteToken', 'addToken', 'revoke', 'updateHMAC',
                'getNodePrefix', 'getIPv6Address', 'getIPv4Information',
                'versions', 'topology')


class QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass


def serve_checkout():
    """Serve this checkout on loopback; export where, for slapos.testing."""
    port = getPortFromPath(os.path.join(WORKING_DIR, 'software-http'))
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', port), functools.partial(QuietHandler, directory=TOP))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ['SLAPOS_TEST_SOFTWARE_ROOT_URL'] = 'http://127.0.0.1:%s/' % port
    os.environ['SLAPOS_TEST_SOFTWARE_ROOT_DIR'] = TOP
    return server


serve_checkout()
_, InstanceTestCase = makeModuleSetUpAndTestCaseClass(
    os.path.join(TOP, 'software.cfg'), software_id='re6st-registry')


def release_digest():
    """Changes whenever anything the software build reads changes:
    software.cfg itself, and every sibling through buildout.hash.cfg."""
    digest = hashlib.md5()
    for name in 'software.cfg', 'buildout.hash.cfg':
        with open(os.path.join(TOP, name), 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def setUpModule():
    """Build (and check) the software as slapos.testing does, but:
    - from scratch whenever the release changed: PyPI's buildout appends a
      [buildout] section to .installed.cfg on every re-run, which the
      software check's strict parser refuses; unchanged, it is not rebuilt;
    - without slapos.testing's SBOM step: nxdbom only knows the SlapOS
      buildout fork's conventions (${:_profile_base_location_})."""
    cls = InstanceTestCase
    url = cls.getSoftwareURL()
    marker = os.path.join(software_path(cls), '.release-digest')
    digest = release_digest()
    try:
        with open(marker) as f:
            built = f.read()
    except FileNotFoundError:
        built = None
    if built is not None and built != digest or (
            built is None and os.path.exists(software_path(cls))):
        cls.slap.start()
        cls.slap.supply(url, state='destroyed')
        cls.slap.waitForSoftware(max_retry=2)
    cls._skip_software_rebuild = built == digest
    installSoftwareUrlList(cls, [url])
    with open(marker, 'w') as f:
        f.write(digest)


def tearDownModule():
    """Leave nothing running: stop the embedded SlapOS if slapos.testing
    did not (its data stays for the next run)."""
    try:
        InstanceTestCase.slap.stop()
    except OSError:  # its supervisord socket is gone: already stopped
        pass

# Every waitForInstance re-runs every partition, as `slapos node instance`
# does periodically on a real node: what survives it survives reality.
InstanceTestCase.slap._force_slapos_node_instance_all = True


def software_path(cls):
    url = cls.getSoftwareURL()
    return os.path.join(cls.slap.software_directory,
                        hashlib.md5(url.encode()).hexdigest())


def service_pids(partition_path):
    """{service: PID of its command} as re6st-service writes them: what a
    restart of that service changes, and nothing else does."""
    run = os.path.join(partition_path, 'var', 'run')
    pids = {}
    for name in os.listdir(run):
        if name.endswith('.pid'):
            with open(os.path.join(run, name)) as f:
                pids[name[:-len('.pid')]] = int(f.read())
    return pids


def connection(partition):
    raw = partition.getConnectionParameterDict()
    return json.loads(raw['_'])


def wait_for(what, check, timeout=60, interval=0.5):
    """check()'s first true value, polled for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %s s' % (what, timeout))
        time.sleep(interval)


def get(url, headers=None):
    """(HTTP status, body) of a GET; never raises for an HTTP error."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


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


def re6st_conf(registry, token, fingerprint, directory):
    """Run the real re6st-conf (from PyPI, outside the release)."""
    return subprocess.run(
        [os.path.join(BIN, 're6st-conf'), '--registry', registry,
         '--token', token, '--fingerprint', fingerprint, '-d', directory],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
