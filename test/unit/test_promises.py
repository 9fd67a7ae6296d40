"""The partition's promises without SlapOS, each plugin run by slapos.core's
own promise runner: the registry's CA, the backups, the CA's lifetime
(also under faketime)."""
import datetime
import os
import http.server
import shutil
import socket
import threading
import time
import unittest

from slapos_re6st.backup import snapshot
from slapos_re6st.backup.directory import BackupError
from slapos_re6st.lib import ca, files, process
from slapos_re6st.promise.ca_lifetime import ca_lifetime
from slapos_re6st.promise.registry import registry_answers, runs_current
from support.partition import PartitionTestCase
from support.promises import plugin_text, run_plugin


class TestPlugin(PartitionTestCase):
    """A check's sentence, reported by the plugin: passing, failing, or
    failing to run at all."""

    def run_check(self, body):
        with open(self.path('some_check.py'), 'w') as f:
            f.write('from slapos_re6st.promise.base import CheckPromise\n'
                    'class RunPromise(CheckPromise):\n'
                    '    def check(self):\n' + body)
        text = plugin_text('x').replace(
            'sys.path[0:0] = [', 'sys.path[0:0] = [%r, ' % self.dir).replace(
            'from slapos_re6st.promise.x import', 'from some_check import')
        return run_plugin(text, 'check.py')

    def test_passes_and_fails_with_the_checks_sentence(self):
        code, output = self.run_check('        return True, "all is well"\n')
        self.assertEqual(code, 0, output)
        code, output = self.run_check(
            '        return False, "the registry is down: restart it"\n')
        self.assertNotEqual(code, 0)
        self.assertIn('the registry is down: restart it', output)

    def test_a_check_that_cannot_run_fails(self):
        code, output = self.run_check('        return 1 / 0\n')
        self.assertNotEqual(code, 0)
        self.assertIn('could not run: ZeroDivisionError', output)


class TestRegistryCheck(PartitionTestCase):

    def test_registry_must_serve_this_ca(self):
        """Passes only when getCa answers with this partition's CA: not
        when another registry answers at that address, nor when none."""
        cert = ca.ensure_ca(self.path('a', 'ca.key'), self.path('a', 'ca.crt'),
                            self.path('a', 'dh'), 2048, '2001:db8:42::/48')
        ca.ensure_ca(self.path('b', 'ca.key'), self.path('b', 'ca.crt'),
                     self.path('b', 'dh'), 2048, '2001:db8:42::/48')
        pem = ca.pem(cert)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%s/' % server.server_port
        self.assertTrue(registry_answers([url], self.path('a', 'ca.crt'))[0])
        ok, message = registry_answers([url], self.path('b', 'ca.crt'))
        self.assertFalse(ok)
        self.assertIn('another CA', message)
        # several URLs (the registry and its forwards): each must answer
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            nobody = 'http://127.0.0.1:%s/' % s.getsockname()[1]
        ok, message = registry_answers([url, nobody], self.path('a', 'ca.crt'))
        self.assertFalse(ok)
        self.assertIn(nobody + 'getCa failed', message)
        self.assertNotIn(url + 'getCa', message)
        # as the plugin runs it, the registry process running as it must
        running = self.registry_process(self.path('a', 'ca.crt'))
        code, output = run_plugin(plugin_text(
            'registry', urls=url, ca=self.path('a', 'ca.crt'), **running),
            'getca.py')
        self.assertEqual(code, 0, output)
        code, output = run_plugin(plugin_text(
            'registry', urls='%s %s' % (url, nobody),
            ca=self.path('a', 'ca.crt'), **running), 'getca.py')
        self.assertNotEqual(code, 0, output)
        self.assertIn(nobody + 'getCa failed', output)

    def registry_process(self, *files):
        """A process standing for re6st-registry, started after `files`:
        the pidfile and files options of the registry promise."""
        p = self.partition()
        self.start(p, 're6st-registry')
        return {'pidfile': p.path('var/run/re6st-registry.pid'),
                'files': ' '.join(files)}

    def test_the_registry_runs_with_its_current_configuration(self):
        config = self.path('re6st-registry.conf')
        files.write(config, 'port 9200\n')
        running = self.registry_process(config)
        self.assertTrue(runs_current(running['pidfile'], [config])[0])
        # changed since: not taken yet (or failing to start with it)
        later = time.time() + 5
        os.utime(config, (later, later))
        ok, message = runs_current(running['pidfile'], [config])
        self.assertFalse(ok)
        self.assertIn('re6st-registry runs with an older %s' % config,
                      message)
        # as re6st-service writes it: with what it started with, a file
        # written again with the same content is no change
        pid, _ = process.read_pidfile(running['pidfile'])
        process.write_pidfile(running['pidfile'], pid,
                              process.command_line(pid),
                              files.fingerprints([config]))
        files.write(config, 'port 9200\n')
        os.utime(config, (later + 5, later + 5))
        self.assertEqual(runs_current(running['pidfile'], [config]), (
            True, 're6st-registry runs with its current configuration.'))
        files.write(config, 'port 9201\n')
        ok, message = runs_current(running['pidfile'], [config])
        self.assertFalse(ok)
        self.assertIn('re6st-registry runs with an older %s' % config,
                      message)
        # not running at all
        process.write_pidfile(running['pidfile'], 2 ** 22 + 1, ['x'])
        ok, message = runs_current(running['pidfile'], [config])
        self.assertFalse(ok)
        self.assertIn('re6st-registry is not running', message)


class TestBackupCheck(PartitionTestCase):

    def test_backup_promise(self):
        p = self.partition()
        text = plugin_text('backup', config=p.options['config-file'])
        code, output = run_plugin(text, 're6st-backup.py')
        self.assertEqual(code, 0, output)  # deployed just now

        os.remove(p.config['registry-db'])
        with self.assertRaises(BackupError):
            snapshot.backup(p.config)
        code, output = run_plugin(text, 're6st-backup.py')
        self.assertNotEqual(code, 0)
        self.assertIn(p.config['registry-db'], output)


class TestCaLifetime(PartitionTestCase):

    def plugin(self, p):
        return plugin_text('ca_lifetime', cert=p.config['ca-cert'],
                           key=p.config['ca-key'],
                           **{'renew-command': '/sr/bin/re6st-renew-ca',
                              'warn-days': '45'})

    def test_ca_lifetime_promise(self):
        p = self.partition()
        text = self.plugin(p)
        code, output = run_plugin(text, 're6st-ca-lifetime.py')
        self.assertEqual(code, 0, output)
        # a certificate that ends in 40 days
        ca.renew(p.config['ca-key'], p.config['ca-cert'], days=40)
        code, output = run_plugin(text, 're6st-ca-lifetime.py')
        self.assertNotEqual(code, 0)
        end = ca.load_certificate(p.config['ca-cert']).not_valid_after_utc
        self.assertIn(end.strftime('%Y-%m-%d'), output)
        self.assertIn('/sr/bin/re6st-renew-ca --key %s --cert %s'
                      % (p.config['ca-key'], p.config['ca-cert']),
                      ' '.join(output.split()))

    @unittest.skipUnless(shutil.which('faketime'),
                         'faketime is not installed'
                         ' (apt-get install faketime)')
    def test_ca_lifetime_promise_under_faketime(self):
        p = self.partition()
        text = self.plugin(p)
        end = p.cert.not_valid_after_utc
        for days, passes in (46, True), (44, False), (-1, False):
            when = (end - datetime.timedelta(days=days)).strftime(
                '%Y-%m-%d %H:%M:%S UTC')
            code, output = run_plugin(text, 're6st-ca-lifetime.py',
                                      'faketime', when)
            self.assertEqual(code == 0, passes, (days, output))
        self.assertIn('expired on %s' % end.strftime('%Y-%m-%d'), output)

    def test_the_check_itself(self):
        p = self.partition()
        ok, message = ca_lifetime(p.config['ca-cert'], p.config['ca-key'],
                                  'renew', 45)
        self.assertTrue(ok, message)
        key = ca.load_key(p.config['ca-key'])
        short = ca.renewed_certificate(key, p.cert, days=44)
        with open(p.config['ca-cert'], 'wb') as f:
            f.write(ca.pem(short))
        ok, message = ca_lifetime(p.config['ca-cert'], p.config['ca-key'],
                                  'renew', 45)
        self.assertFalse(ok)
        self.assertIn('in 43 days', message)
