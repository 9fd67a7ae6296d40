"""re6st-registry as the release runs it (service.registry, with
lib.re6st_adapter): failed requests logged in one short line, a bounded
number a minute, and no token in any log; a listen backlog for more than 5
clients; re6stnet's version checked; against the real re6st-registry."""
import logging
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from slapos_re6st.lib import files
from slapos_re6st.lib import re6st_adapter
from slapos_re6st.lib.re6st_adapter import RequestErrors
from support.re6st import RunningRegistry
from harness.tempdir import TempDir


class TestRequestErrors(TempDir):

    def record(self, message='GET /requestCertificate?token=SECRET&req=x'
               ' HTTP/1.1'):
        try:
            raise ValueError('bad CSR')
        except ValueError:
            return logging.LogRecord('root', logging.WARNING, __file__, 1,
                                     message, (), sys.exc_info())

    def test_short_bounded_and_counted(self):
        now = [60.0]
        errors = RequestErrors(burst=3, clock=lambda: now[0])
        kept = [r for r in (self.record() for _ in range(10))
                if errors.filter(r)]
        self.assertEqual(len(kept), 3)
        self.assertEqual(kept[0].getMessage(),
                         'GET /requestCertificate: ValueError')
        self.assertIsNone(kept[0].exc_info)
        now[0] += 60
        record = self.record()
        self.assertTrue(errors.filter(record))
        self.assertIn('7 more failed requests', record.getMessage())
        # anything else passes as it is
        other = logging.LogRecord('root', logging.WARNING, __file__, 1,
                                  'Network: %s', ('x',), None)
        self.assertTrue(errors.filter(other))
        self.assertEqual(other.getMessage(), 'Network: x')


class TestHardenedRegistry(TempDir):

    def setUp(self):
        super().setUp()
        self.registry = RunningRegistry(self.path('registry'))
        self.addCleanup(self.registry.stop)

    def get(self, path):
        try:
            with urllib.request.urlopen(self.registry.url + path,
                                        timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def test_failed_requests_flood_no_log(self):
        self.registry.add_token('tokennotlogged')
        start = time.time()
        for i in range(200):
            self.assertEqual(self.get(
                'requestCertificate?token=tokennotlogged&req=garbage%d' % i),
                500)
        # the bound is 20 a minute of the clock: the requests may span two
        # (or more, on a slow machine)
        minutes = int(time.time() // 60) - int(start // 60) + 1
        self.registry.stop()
        log = files.read(self.registry.path('registry.log'), '')
        output = files.read(self.registry.path('output.log'), '')
        self.assertLess(len(log), 4000 * minutes, log[:2000])
        logged = len(re.findall('requestCertificate', log))
        self.assertGreaterEqual(logged, 20)
        self.assertLessEqual(logged, 20 * minutes)
        for text in log, output:
            self.assertNotIn('tokennotlogged', text)
            self.assertNotIn('Traceback', text)
        self.assertIn('/requestCertificate', output)  # the access log

    def test_big_request_heads_refused_at_once(self):
        with socket.create_connection(('127.0.0.1', self.registry.port),
                                      10) as s:
            s.sendall(b'GET /getCa HTTP/1.1\r\n' + b''.join(
                b'X-%d: %s\r\n' % (i, b'x' * 9000) for i in range(3)))
            self.assertIn(b' 431 ', s.recv(4096))

    def test_listen_backlog(self):
        """re6st's backlog of 5 made the 6th concurrent connection wait for
        a SYN retry: the adapter's is LISTEN_BACKLOG (ss shows a listening
        socket's backlog as its Send-Q)."""
        out = subprocess.run(['ss', '-Hltn', 'sport = :%s' % self.registry.port],
                             capture_output=True, text=True, check=True).stdout
        self.assertEqual([line.split()[2] for line in out.splitlines()],
                         [str(re6st_adapter.LISTEN_BACKLOG)])


class TestPinnedVersion(TempDir):

    def test_another_re6stnet_refused_with_a_sentence(self):
        with self.assertRaises(re6st_adapter.UnsupportedVersion) as e:
            re6st_adapter.check_version('0.643')
        self.assertIn('re6stnet 0.643 is installed: install re6stnet %s'
                      % re6st_adapter.RE6STNET_VERSION, str(e.exception))
        re6st_adapter.check_version()  # the installed one is the one

    def test_the_service_refuses_to_start(self):
        code = ('import sys; sys.path[0:0] = %r\n'
                'import importlib.metadata as m\n'
                'real = m.version\n'
                'm.version = lambda name: "0.1" if name == "re6stnet"'
                ' else real(name)\n'
                'from slapos_re6st.cli.registry import main\n'
                'main(["@/nonexistent"])\n' % sys.path)
        result = subprocess.run([sys.executable, '-c', code],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn('re6stnet 0.1 is installed', result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1,
                         result.stderr)

    def test_no_unittest_mock_at_run_time(self):
        code = ('import sys; sys.path[0:0] = %r\n'
                'import slapos_re6st.service.registry\n'
                'import slapos_re6st.lib.registry_config\n'
                'print("unittest.mock" in sys.modules)\n' % sys.path)
        result = subprocess.run([sys.executable, '-c', code],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.stdout.strip(), 'False', result.stderr)
