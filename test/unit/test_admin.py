"""Only the holders of the partition's admin secret call the registry's
private RPCs (lib.admin, service.registry's guard, lib.client,
re6st-registry-admin, the admin-secret recipe): against the real
re6st-registry as the release runs it, on loopback.  (Another local user
trying it: test/root/test_host.py.)"""
import contextlib
import io
import os
import subprocess
import urllib.error
import urllib.request

from slapos_re6st.cli import admin as admin_cli
from slapos_re6st.lib import admin, files
from slapos_re6st.lib.client import Client, RegistryError
from slapos_re6st.recipe.admin import Recipe
from support.profile import profile_section
from support.re6st import REGISTRY_SERVICE, RunningRegistry
from harness.tempdir import TempDir

PRIVATE_RPCS = admin_cli.rpc_names()[1]


class TestSecret(TempDir):

    def test_made_once_for_the_owner_only(self):
        path = self.path('etc', 'admin.secret')
        os.makedirs(os.path.dirname(path))
        recipe = Recipe(None, 'admin-secret', {'file': path})
        self.assertEqual(recipe.install(), [])  # never deleted by buildout
        secret = admin.read_secret(path)
        self.assertEqual(len(secret), 64)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(recipe.update(), [])
        self.assertEqual(admin.read_secret(path), secret)
        # the profile makes it in etc/, as the partition's user
        self.assertEqual(profile_section('admin-secret')['recipe'],
                         'slapos_re6st:admin-secret')

    def test_a_secret_open_to_others_is_refused(self):
        path = self.path('admin.secret')
        admin.make_secret(path)
        os.chmod(path, 0o640)
        with self.assertRaisesRegex(admin.SecretError, 'open to others'):
            admin.read_secret(path)
        os.symlink(path, self.path('link'))
        os.chmod(path, 0o600)
        with self.assertRaisesRegex(admin.SecretError, 'cannot be read'):
            admin.read_secret(self.path('link'))
        files.write(self.path('empty'), '', 0o600)
        with self.assertRaisesRegex(admin.SecretError, 'empty'):
            admin.read_secret(self.path('empty'))
        with self.assertRaisesRegex(admin.SecretError, 'run the instance'):
            admin.read_secret(self.path('missing'))

    def test_compared_whole(self):
        self.assertTrue(admin.allowed('abc', 'abc'))
        for value in None, '', 'ab', 'abcd', 'ABC', '\xe9':
            self.assertFalse(admin.allowed('abc', value), value)


class TestGuardedRegistry(TempDir):

    def setUp(self):
        super().setUp()
        self.registry = RunningRegistry(self.path('registry'))
        self.addCleanup(self.registry.stop)

    def get(self, path, headers=None):
        request = urllib.request.Request(self.registry.url + path,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.reason
        except urllib.error.HTTPError as e:
            return e.code, e.reason

    def test_private_rpcs_need_the_secret(self):
        secret = admin.read_secret(self.registry.secret)
        self.assertIn('addToken', PRIVATE_RPCS)
        self.assertIn('revoke', PRIVATE_RPCS)
        for rpc in PRIVATE_RPCS:
            # from 127.0.0.1, which re6st itself trusts
            for headers in ({}, {admin.HEADER: ''},
                            {admin.HEADER: secret[:-1]},
                            {admin.HEADER: secret + 'x'},
                            {'X-Forwarded-For': '127.0.0.1'}):
                self.assertEqual(self.get(rpc + '?token=x', headers),
                                 (403, admin.REFUSED), (rpc, headers))
        # public RPCs need nothing
        self.assertEqual(self.get('getCa')[0], 200)
        # with the secret: answered
        with_secret = {admin.HEADER: secret}
        self.assertEqual(self.get('addToken?email=a%40example.com&token=t1',
                                  with_secret)[0], 204)
        self.assertEqual(self.get('isToken?token=t1', with_secret)[0], 200)
        self.assertEqual(self.get('deleteToken?token=t1', with_secret)[0],
                         204)

    def test_the_release_client_sends_it(self):
        self.registry.admin().call('addToken', 'b@example.com', 't2')
        self.assertEqual(self.registry.admin().call('isToken', 't2'), b'1')
        with self.assertRaisesRegex(RegistryError, 'refused .*403.*%s' %
                                    admin.HEADER):
            Client(self.registry.url).call('isToken', 't2')
        # a secret it cannot use: said, not sent
        os.chmod(self.registry.secret, 0o644)
        with self.assertRaisesRegex(RegistryError, 'open to others'):
            self.registry.admin().call('isToken', 't2')

    def test_the_operator_command(self):
        def command(*args):
            out, err = io.StringIO(), io.StringIO()
            out.buffer = io.BytesIO()
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                code = admin_cli.main(['--registry', self.registry.url,
                                       '--secret', self.registry.secret]
                                      + list(args))
            return code, out.buffer.getvalue().decode(), err.getvalue()
        self.assertEqual(command('addToken', 'email=c@example.com',
                                 'token=t3'), (0, '', ''))
        self.assertEqual(command('isToken', 'token=t3'), (0, '1\n', ''))
        code, _, err = command('addToken', 'email=c@example.com',
                               'token=t3')
        self.assertEqual(code, 1)  # a duplicate: 409
        code, _, err = command('addTokens', 'token=x')
        self.assertEqual(code, 2)
        self.assertIn('not an RPC', err)
        code, _, err = command('isToken', 'tok=x')
        self.assertEqual(code, 2)
        self.assertIn('isToken takes token=...', err)
        code, _, err = command('isToken', 'x')
        self.assertEqual(code, 2)
        self.assertIn('NAME=VALUE', err)

    def test_the_service_refuses_a_secret_open_to_others(self):
        path = self.path('open.secret')
        files.write(path, 'x' * 64, 0o644)
        result = subprocess.run(
            REGISTRY_SERVICE + ['--admin-secret', path,
                                '@' + self.registry.config],
            capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('open to others', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
