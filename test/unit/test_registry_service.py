"""re6st-registry as the release runs it (service.registry): failed
requests logged in one short line, a bounded number a minute, and no
token in any log; against the real re6st-registry."""
import logging
import re
import socket
import sys
import urllib.error
import urllib.request

from slapos_re6st.lib import files
from slapos_re6st.service.registry import RequestErrors
from support.re6st import RunningRegistry
from support.tempdir import TempDir


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
        for i in range(200):
            self.assertEqual(self.get(
                'requestCertificate?token=tokennotlogged&req=garbage%d' % i),
                500)
        self.registry.stop()
        log = files.read(self.registry.path('registry.log'), '')
        output = files.read(self.registry.path('output.log'), '')
        self.assertLess(len(log), 4000, log[:2000])
        self.assertEqual(len(re.findall('requestCertificate', log)), 20)
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
