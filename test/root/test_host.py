"""As root, what only root can check: `make run`, `make token` and `make
drop-token` as a user runs them, and what another local user (nobody)
can see of a registry they deployed.  (`make test` runs this suite as
root; as another user, it is skipped.)"""
import glob
import json
import os
import unittest

from slapos_re6st.lib import process, registry_config

from support.host import (
    as_user, checkout, last_json, make, registry_partition, uid, work)

# what a shell or make would expand, and quotes
PASSWORD = 'pw-$$-$(shell touch %s)-$HOME-"q\'-%%'
MARKER = '/tmp/re6st-make-expanded'


@unittest.skipUnless(os.geteuid() == 0, 'root only (make test as root)')
class TestMakeRun(unittest.TestCase):
    """One registry deployed by `make run` with secrets, then a token
    requested and dropped: parameters given once and kept, nothing secret
    seen by another user."""

    @classmethod
    def setUpClass(cls):
        if os.path.exists(MARKER):
            os.remove(MARKER)
        cls.password = PASSWORD % MARKER
        cls.params = {'prefix-length': 20, 'client-count': 5, 'verbose': 2,
                      'mailhost': 'smtp.example.com:2525',
                      'smtp-user': 'registry',
                      'smtp-password': cls.password}
        # (also when make run fails: what it started stops)
        cls.addClassCleanup(make, 'stop')
        # PARAMS on make's command line, as users type it
        cls.published = last_json(make('run', 'PARAMS=' + json.dumps(
            cls.params)))

    def path(self, *names):
        return os.path.join(registry_partition(), *names)

    def config(self):
        return registry_config.parse(self.path('etc', 're6st-registry.conf'))

    def registry_pid(self):
        return process.read_pidfile(self.path('var', 'run',
                                              're6st-registry.pid'))[0]

    def logs(self):
        return [self.path('var', 'log', 're6st-registry.log')] + glob.glob(
            self.path('.*.log')) + glob.glob(os.path.join(
                work(), 'slapos', 'var', 'log', '*.log'))

    def assertNowhereSeen(self, *secrets):
        """Not in another user's reach: the embedded SlapOS's files and
        API, any process's command line, the logs."""
        for secret in secrets:
            for path in self.logs():
                with open(path, errors='replace') as f:
                    self.assertNotIn(secret, f.read(), path)
            for cmdline in glob.glob('/proc/[0-9]*/cmdline'):
                try:
                    with open(cmdline, 'rb') as f:
                        self.assertNotIn(secret.encode(), f.read(), cmdline)
                except OSError:  # gone meanwhile
                    pass
        database = os.path.join(work(), 'slapos', 'var', 'proxy.db')
        self.assertTrue(os.path.exists(database))
        self.assertNotEqual(as_user('cat', database, user='nobody',
                                    ).returncode, 0)
        result = as_user('python3', '-c', 'import socket;'
                         ' socket.create_connection(("127.0.0.1", 19380), 5)',
                         user='nobody')
        self.assertNotEqual(result.returncode, 0, 'nobody reached the API')
        self.assertIn('refused', result.stderr.lower())
        # the user itself does reach it
        self.assertEqual(as_user('python3', '-c', 'import socket;'
                                 ' socket.create_connection(("127.0.0.1",'
                                 ' 19380), 5)').returncode, 0)

    def test_parameters_given_once_and_kept(self):
        self.assertFalse(os.path.exists(MARKER), 'make expanded PARAMS')
        config = self.config()
        self.assertEqual(config.smtp_pwd, self.password)
        self.assertEqual((config.prefix_length, config.client_count,
                          config.verbose), (20, 5, 2))
        pid = self.registry_pid()
        token = last_json(make('token', 'NAME=alice-laptop'))
        self.assertEqual(token['status'], 'Token is ready for use')
        last_json(make('token', 'NAME=bob'))
        result = make('drop-token', 'NAME=bob')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        config = self.config()
        self.assertEqual((config.prefix_length, config.client_count,
                          config.verbose, config.smtp_pwd),
                         (20, 5, 2, self.password))
        self.assertEqual(self.registry_pid(), pid)
        self.assertNowhereSeen(self.password, token['token'])

    def test_make_run_ends_once_the_registry_runs_its_configuration(self):
        params = dict(self.params, hello=16)
        # with a secret: PARAMS in the environment, not on a command line
        result = make('run', PARAMS=json.dumps(params))
        last_json(result)
        # its exit said: the registry runs with the new configuration
        pidfile = self.path('var', 'run', 're6st-registry.pid')
        conf = self.path('etc', 're6st-registry.conf')
        self.assertEqual(self.config().hello, 16)
        # (seen as the user: process_of sees that user's processes only)
        running = as_user(os.path.join(work(), 'venv', 'bin', 'python'), '-c',
                          'import sys; from slapos_re6st.lib import process;'
                          ' print(process.process_of(sys.argv[1]))', pidfile,
                          cwd=checkout())
        self.assertEqual(running.stdout.strip(), str(self.registry_pid()),
                         running.stderr)
        self.assertGreaterEqual(os.stat(pidfile).st_mtime,
                                os.stat(conf).st_mtime)
        last_json(make('run', 'PARAMS=' + json.dumps(self.params)))
        self.assertEqual(self.config().hello, 15)
        self.assertNowhereSeen(self.password)

    def test_the_work_directory_is_the_users_only(self):
        self.assertEqual(os.stat(work()).st_uid, uid())
        self.assertEqual(os.stat(work()).st_mode & 0o077, 0)
        for path in self.logs():
            self.assertNotEqual(as_user('cat', path, user='nobody',
                                        ).returncode, 0, path)
