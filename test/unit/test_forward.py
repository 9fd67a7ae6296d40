"""The public side (lib.forward: HAProxy's configuration) with the real
HAProxy in front of the real re6st-registry, on loopback: what passes,
what is refused, what is cut."""
import http.client
import os
import shutil
import socket
import subprocess
import threading
import time
import unittest

from slapos_re6st.lib import files, forward
from slapos_re6st.lib.wait import wait_for
from support.re6st import RunningRegistry, free_port
from harness.tempdir import TempDir

PRIVATE_RPCS = ('isToken', 'deleteToken', 'addToken', 'revoke',
                'getNodePrefix', 'getIPv6Address', 'versions', 'topology')
HAPROXY = shutil.which('haproxy', path=os.pathsep.join(
    [os.environ.get('PATH', ''), '/usr/local/sbin', '/usr/sbin']))


@unittest.skipUnless(HAPROXY, 'haproxy is not installed'
                     ' (apt-get install haproxy)')
class TestForward(TempDir):

    def setUp(self):
        super().setUp()
        self.registry = RunningRegistry(self.path('registry'))
        self.addCleanup(self.registry.stop)
        self.port = free_port('::1', '127.0.0.1')
        config = self.path('forward.cfg')
        files.write(config, forward.render(
            ['::1', '127.0.0.1'], self.port,
            '127.0.0.1:%s' % self.registry.port, '127.0.0.2'))
        self.haproxy = subprocess.Popen([HAPROXY, '-f', config, '-db'],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (self.haproxy.terminate(),
                                 self.haproxy.wait()))
        self.url = 'http://[::1]:%s/' % self.port
        self.assertTrue(wait_for(lambda: self.status('/getCa') == 200, 10,
                                 0.05))

    def connection(self, host='::1'):
        return http.client.HTTPConnection(host, self.port, timeout=10)

    def status(self, path, headers=None, method='GET', host='::1'):
        connection = self.connection(host)
        try:
            connection.request(method, path, headers=headers or {})
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def test_the_config_is_valid(self):
        result = subprocess.run(
            [HAPROXY, '-c', '-f', self.path('forward.cfg')],
            capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_public_rpcs_pass_on_both_addresses(self):
        self.assertEqual(self.status('/getCa', host='127.0.0.1'), 200)
        directory = self.registry.join('throughforward', self.url,
                                       add_token=True)
        self.assertTrue(os.path.exists(os.path.join(directory, 'cert.crt')))

    def test_private_rpcs_and_everything_else_refused(self):
        for rpc in PRIVATE_RPCS:
            for headers in {}, {'X-Forwarded-For': '127.0.0.1'}, \
                    {'X-Forwarded-For': '::1'}:
                self.assertIn(self.status('/%s?token=x' % rpc, headers),
                              (403, 404), (rpc, headers))
        self.assertEqual(self.status('/getCa', method='POST'), 405)
        self.assertEqual(self.status('/getCa?x=1'), 400)
        self.assertEqual(self.status('/requestCertificate?evil=1'), 400)
        self.assertEqual(self.status('/' + 'x' * 5000), 404)
        big = {'X-Big-%d' % i: 'x' * 1000 for i in range(20)}
        self.assertIn(self.status('/getCa', big), (400, 431))

    def test_the_registry_sees_an_untrusted_origin(self):
        """HAProxy connects from 127.0.0.2, which the registry does not
        trust, and never passes a client's X-Forwarded-For: private RPCs
        would be refused even if HAProxy passed them."""
        self.assertEqual(self.status('/getCa', {'X-Forwarded-For':
                                                '127.0.0.1'}), 200)
        self.registry.stop()
        access = files.read(self.registry.path('output.log'))
        self.assertIn('127.0.0.2 - - [', access)
        self.assertNotIn('127.0.0.1 - - [', access)

    def test_a_slow_or_idle_client_is_cut(self):
        slow = socket.create_connection(('::1', self.port))
        idle = socket.create_connection(('::1', self.port))
        self.addCleanup(slow.close)
        self.addCleanup(idle.close)
        slow.sendall(b'GET /getCa HTTP/1.1\r\n')
        start = time.monotonic()
        for s in slow, idle:
            s.settimeout(15)
            answer = s.recv(4096)  # HAProxy's 408, then the close
            self.assertIn(answer[:12], (b'', b'HTTP/1.1 408'))
        self.assertLess(time.monotonic() - start, 12)

    def test_connections_of_one_client_are_bounded(self):
        """40 at once from one address: at most 32 are served (a closing
        connection of an earlier test may still count a moment), the
        others are cut; then 16 busy clients behind that address always
        pass."""
        held = []
        self.addCleanup(lambda: [s.close() for s in held])
        for _ in range(40):
            try:  # a connection cut at once may be reset before connect ends
                held.append(socket.create_connection(('::1', self.port),
                                                     timeout=15))
            except ConnectionResetError:
                pass
        for s in held:
            try:
                s.sendall(b'GET /getCa HTTP/1.1\r\nHost: registry\r\n\r\n')
            except OSError:
                pass
        served = 0
        for s in held:
            try:
                served += s.recv(64).split()[1:2] == [b'200']
            except OSError:
                pass
        self.assertLessEqual(served, 32)
        self.assertGreaterEqual(served, 24)
        for s in held:
            s.close()
        held.clear()
        statuses = []

        def client():
            for _ in range(20):
                statuses.append(self.status('/getCa'))
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(statuses, [200] * 320)


class TestHaproxyVersions(TempDir):
    """The configuration follows the HAProxy the recipe is given: a SlapOS
    node's system (Debian 11) has HAProxy 2.2, which refuses
    fd-hard-limit (make test-node runs it for real)."""

    def fake_haproxy(self, banner):
        path = self.path('haproxy')
        with open(path, 'w') as f:
            f.write('#!/bin/sh\necho %r\n' % banner)
        os.chmod(path, 0o755)
        return path

    def recipe_text(self, haproxy):
        from slapos_re6st.recipe import forward as forward_recipe
        return forward_recipe.Recipe(None, 'forward', {
            'output': self.path('forward.cfg'), 'listen': '::1',
            'port': '9201', 'registry': '127.0.0.1:9200',
            'source': '127.0.0.2', 'haproxy': haproxy}).text

    def test_versions_read_from_haproxy(self):
        self.assertEqual(forward.haproxy_version(
            'HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://...'),
            (2, 6))
        self.assertEqual(forward.haproxy_version(
            'HA-Proxy version 1.8.19 2019/02/11'), (1, 8))
        self.assertIsNone(forward.haproxy_version('something else'))

    def test_debian_11s_haproxy_gets_no_fd_hard_limit(self):
        old = self.recipe_text(self.fake_haproxy(
            'HAProxy version 2.2.9-2+deb11u6 2023/12/19'))
        self.assertNotIn('fd-hard-limit', old)
        new = self.recipe_text(self.fake_haproxy(
            'HAProxy version 2.6.12-1+deb12u1 2023/12/16'))
        self.assertIn('fd-hard-limit %s' % forward.FD_LIMIT, new)
        # the rest is the same configuration
        self.assertEqual(
            [line for line in old.splitlines() if 'fd-hard-limit' not in line
             and 'HAProxy 2.2' not in line],
            [line for line in new.splitlines()
             if 'fd-hard-limit' not in line])

    @unittest.skipUnless(HAPROXY, 'haproxy is not installed'
                         ' (apt-get install haproxy)')
    def test_both_are_valid_for_this_haproxy(self):
        for banner in ('HAProxy version 2.2.9', 'HAProxy version 2.6.12'):
            config = self.path('forward.cfg')
            files.write(config, self.recipe_text(self.fake_haproxy(banner)))
            result = subprocess.run([HAPROXY, '-c', '-f', config],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stdout
                             + result.stderr)

    def test_a_program_that_is_no_haproxy_is_refused(self):
        import zc.buildout
        with self.assertRaises(zc.buildout.UserError) as e:
            self.recipe_text(self.fake_haproxy('hello'))
        self.assertIn('no HAProxy version', str(e.exception))
        with self.assertRaises(zc.buildout.UserError) as e:
            self.recipe_text(self.path('missing'))
        self.assertIn('cannot run haproxy', str(e.exception))
