"""Operations on the embedded SlapOS: the backups (the service's own at its
start, the operator's bin/re6st-backup), their promise, their copy in
backup-repository (git's own HTTP server on loopback, with a password), a
restore into a fresh instance from a clone of that repository, and the
promise on the CA's lifetime (under faketime)."""
import datetime
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest
import zlib

from cryptography import x509
from slapos.slap.standalone import SlapOSNodeCommandError

from harness import until
from harness.git import GitHttpServer, bare, git, log_of, needs_git_http
from harness.partition import backup_names, backup_status
from harness.promises import run_plugin
from harness.re6st import fingerprint, node_certificate, node_client
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    WORKING_DIR, RegistryTestCase, connection, get, get_ca, setUpModule,
    software_path, tearDownModule)


def run_promise(plugin, *prefix):
    """Run one promise plugin of a partition as slapos node does, by the
    release's Python.  Returns (exit code, output)."""
    from slapos.grid.utils import getPythonExecutableFromSoftwarePath
    with open(plugin) as f:
        text = f.read()
    return run_plugin(
        text, os.path.basename(plugin), *prefix,
        python=getPythonExecutableFromSoftwarePath(
            software_path()), directory=WORKING_DIR)


class OperationsTestCase(RegistryTestCase):

    def backups(self):
        return backup_names(self.path('srv', 'backup'))

    def status(self):
        return backup_status(self.path('srv', 'backup'))

    def run_backup(self):
        """The operator's bin/re6st-backup: the new backup's path."""
        result = subprocess.run([self.path('bin', 're6st-backup')],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        path = result.stdout.strip().splitlines()[-1]
        self.assertTrue(os.path.isdir(path), path)
        return path


class TestBackups(OperationsTestCase):
    request = {'backup-keep': 3}

    def test_restarts_of_the_service_make_no_new_backup(self):
        """A service killed again and again (a crash loop) does not push
        the kept backups out: a backup once a period, not once a start."""
        first = until('the first backup', self.backups)
        for _ in range(3):
            pid = self.pids()['re6st-backup']
            os.kill(pid, signal.SIGKILL)
            until('the service started again',
                  lambda: self.pids()['re6st-backup'] != pid, 10, 0.1)
        self.assertEqual(self.backups(), first)

    def test_backup_at_start_then_on_demand_and_the_last_kept(self):
        first = until('the first backup, at the service start',
                      self.backups)
        until('its status', lambda: self.status().get('last-success'))
        self.assertIsNone(self.status().get('last-error'))

        path = self.run_backup()
        self.assertEqual(self.backups()[-1], os.path.basename(path))
        self.assertNotIn(os.path.basename(path), first)
        with open(os.path.join(path, 'manifest.json')) as f:
            manifest = json.load(f)
        self.assertEqual(manifest['ca-fingerprint'],
                         self.published['ca-fingerprint'])
        self.assertEqual(sorted(manifest['files']), [
            'ca.crt', 'ca.key', 'dh.pem', 'host-node.crt', 'host-node.key',
            'registry.db', 'tokens.db'])
        self.assertEqual(stat.S_IMODE(os.stat(
            os.path.join(path, 'ca.key')).st_mode), 0o600)
        with open(os.path.join(path, 'ca.crt'), 'rb') as f:
            self.assertEqual(x509.load_pem_x509_certificate(f.read()),
                             get_ca(self.published['re6stry-url']))

        # backup-keep: 3
        made = [os.path.basename(self.run_backup()) for _ in range(3)]
        self.assertEqual(self.backups(), made)
        # every promise passes, the backups' too
        self.waitForInstance()

    def test_failed_backup_fails_the_promise(self):
        tokens_db = self.path('srv', 're6st-tokens', 'tokens.db')
        os.chmod(tokens_db, 0)
        try:
            result = subprocess.run([self.path('bin', 're6st-backup')],
                                    capture_output=True, text=True,
                                    timeout=120)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn('srv/re6st-tokens/tokens.db', result.stderr)
            with self.assertRaises(SlapOSNodeCommandError) as e:
                self.instance_run(error_lines=100)
            self.assertIn('re6st-backup.py', str(e.exception))
            self.assertIn('srv/re6st-tokens/tokens.db', str(e.exception))
        finally:
            os.chmod(tokens_db, 0o600)
        self.run_backup()
        self.waitForInstance()

    @unittest.skipUnless(shutil.which('faketime'),
                         'faketime is not installed'
                         ' (apt-get install faketime)')
    def test_ca_lifetime_promise(self):
        plugin = self.path('etc', 'plugin', 're6st-ca-lifetime.py')
        cert = self.path('srv', 're6st-ca', 'ca.crt')
        with open(cert, 'rb') as f:
            end = x509.load_pem_x509_certificate(f.read()).not_valid_after_utc
        code, output = run_promise(plugin)
        self.assertEqual(code, 0, output)
        when = (end - datetime.timedelta(days=40)).strftime(
            '%Y-%m-%d %H:%M:%S UTC')
        code, output = run_promise(plugin, 'faketime', when)
        self.assertNotEqual(code, 0, output)
        output = ' '.join(output.split())
        self.assertIn(end.strftime('%Y-%m-%d %H:%M:%S UTC'), output)
        for words in ('/bin/re6st-renew-ca --key ',
                      '/srv/re6st-ca/ca.key --cert ',
                      '/srv/re6st-ca/ca.crt`'):
            self.assertIn(words, output)
        # and 46 days before, it still passes
        when = (end - datetime.timedelta(days=46)).strftime(
            '%Y-%m-%d %H:%M:%S UTC')
        code, output = run_promise(plugin, 'faketime', when)
        self.assertEqual(code, 0, output)


@needs_git_http
class TestRestore(OperationsTestCase):
    """Backups pushed to backup-repository, a git repository served over
    HTTP with a password; the instance destroyed; a fresh one restored
    from a clone of that repository, which then pushes there again."""

    PASSWORD = 'hunter2-Secr3t'

    @classmethod
    def setUpClass(cls):
        served = tempfile.mkdtemp(dir=WORKING_DIR)
        cls.remote = bare(os.path.join(served, 'registry.git'))
        cls.git_server = GitHttpServer(served, 'backup', cls.PASSWORD,
                                       served + '.lighttpd')
        cls.request = {'backup-repository': cls.git_server.url_with(
            'backup', cls.PASSWORD, 'registry.git')}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.git_server.stop()

    def serves(self, url, expected):
        """Whether the registry at `url` answers with that CA."""
        try:
            return fingerprint(get_ca(url)) == expected
        except (OSError, AssertionError):  # restarting
            return False

    def test_restore_into_a_fresh_instance(self):
        before = self.published
        # the backup of the service's start is pushed
        until('the first backup pushed',
              lambda: self.status().get('last-push-commit'))
        # a node joined, and a token not used yet, before the backup
        node = self.join_node('restorednode')
        self.add_token('keptunused', 'later@example.com')
        node_cert = node_certificate(node)
        self.run_backup()
        pushed = log_of(self.remote)
        self.assertEqual(pushed[0], self.status()['last-push-commit'])
        self.assertGreaterEqual(len(pushed), 2)
        self.waitForInstance()  # the promises agree

        # the password: nowhere in the partition but its 0600 URL file,
        # not in what buildout records, not published
        holders = []
        for top, _, names in os.walk(self.path()):
            for name in names:
                path = os.path.join(top, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue  # sockets, links to the software
                with open(path, 'rb') as f:
                    found = self.PASSWORD.encode() in f.read()
                if found:
                    holders.append(os.path.relpath(path, self.path()))
        self.assertEqual(sorted(holders), ['etc/re6st-backup-repository',
                                           'etc/re6st-request-secrets.json'])
        for name in holders:
            self.assertEqual(stat.S_IMODE(os.stat(self.path(
                name)).st_mode), 0o600, name)
        self.assertNotIn(self.PASSWORD, json.dumps(self.published))

        # the backup, from the repository only
        saved = os.path.join(self.tmp, 'clone')
        git('clone', '--quiet', '--branch', 'main', self.remote, saved)

        # the instance destroyed, its partition freed, then requested again
        # (without backup-repository: that repository is another CA's for
        # the fresh instance, until the restore)
        self.requestDefaultInstance(state='destroyed')
        self.instance_run(max_retry=3)
        self.slap.waitForReport(max_retry=3)
        self.assertFalse(os.path.exists(self.path('srv', 're6st-ca',
                                                  'ca.key')))
        partition = self.request_with(**{'backup-repository': ''})
        self.assertEqual(partition.getId(), self.computer_partition.getId())
        fresh = connection(partition)
        self.assertNotEqual(fresh['ca-fingerprint'], before['ca-fingerprint'])

        result = subprocess.run(
            [os.path.join(software_path(), 'bin', 're6st-restore'),
             '--backup', saved, '--partition', self.path()],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertTrue([
            name for name in os.listdir(self.path('srv', 'backup'))
            if name.startswith('before-restore-')])
        restored = connection(self.request_with(**{'backup-repository': ''}))
        self.assertEqual(restored['ca-fingerprint'], before['ca-fingerprint'])
        url = restored['re6stry-url']
        until('the restored CA served', lambda: self.serves(
            url, before['ca-fingerprint']))
        self.assertHostNodeIsTheMainNode()

        # the node of before the backup still authenticates, and renews
        client, cert = node_client(url, node)
        config = client.getNetworkConfig(cert.prefix)
        self.assertIsNotNone(config, 'getNetworkConfig refused the node')
        self.assertIsInstance(json.loads(zlib.decompress(config)), dict)
        renewed = node_client(url, node)[0].renewCertificate(cert.prefix)
        self.assertIsNotNone(renewed, 'renewCertificate refused the node')
        self.assertEqual(
            x509.load_pem_x509_certificate(renewed).public_key()
            .public_numbers(), node_cert.public_key().public_numbers())
        status, body = self.admin_get('getNodePrefix?email=node@example.com',
                                      restored)
        self.assertEqual(status, 200)
        cn = node_cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value
        self.assertEqual(body.decode(), cn)

        # the token not used before the backup works now
        self.joined('keptunused', published=restored)

        # backup-repository again: the restored registry continues the
        # repository's history
        self.request_with()
        self.run_backup()
        now = log_of(self.remote)
        self.assertEqual(now[-len(pushed):], pushed)
        self.assertGreater(len(now), len(pushed))
        self.assertIsNone(self.status().get('push-error'))

        # and every promise passes
        self.waitForInstance()
