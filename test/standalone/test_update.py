"""An instance deployed by the release as it was before its layout changed
(one room per role) updates in place to this release, as a SlapOS Master
upgrades it (the same reference requested with the new software URL): same
CA, database, tokens, backups and secrets, same published values."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import TOP, until
from harness.partition import backup_names
from harness.re6st import node_client, registry_config, run_conf
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    WORKING_DIR, InstanceTestCase, admin_headers, answers, connection, get,
    get_ca, long_test, params, serve_directory, setUpModule, tearDownModule)

# main before the move: the last commit of the previous layout
PREVIOUS = '4ff4a9e6d18c07651ebba4cab96d5a49df358f5c'
REFERENCE = 'updated-in-place'
PASSWORD = 'old-layout "secret" $x'
REQUEST = {'backup-keep': 5, 'mailhost': 'smtp.example.com:2525',
           'smtp-user': 'registry', 'smtp-password': PASSWORD}


def export(commit, target):
    """The tree of `commit` of this checkout's repository, in `target`."""
    os.makedirs(target)
    archive = subprocess.run(
        ['git', '-c', 'safe.directory=*', '-C', TOP, 'archive', commit],
        check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', target], input=archive, check=True)


def has_previous():
    """Whether this checkout's history has the previous release version
    (SlapOS's tree would not)."""
    return subprocess.run(
        ['git', '-c', 'safe.directory=*', '-C', TOP, 'cat-file', '-e',
         PREVIOUS + '^{commit}'], capture_output=True).returncode == 0


@long_test
@unittest.skipUnless(has_previous(), 'the previous release version (commit'
                     ' %s) is not in this checkout\'s history' % PREVIOUS[:7])
class TestUpdateFromThePreviousLayout(InstanceTestCase):
    partition_count = 1
    request_instance = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        old = os.path.join(WORKING_DIR, 'previous-layout')
        if not os.path.exists(os.path.join(old, 'software.cfg')):
            export(PREVIOUS, old)
        cls.old_url = serve_directory(
            old, os.path.join(WORKING_DIR, 'previous-layout-http')
        ) + 'software.cfg'

    def request(self, url, **kw):
        return self.slap.request(url, REFERENCE, 'default',
                                 partition_parameter_kw=params(**REQUEST),
                                 **kw)

    def request_token(self, url, state='started'):
        return self.slap.request(url, 'token-of-before', 'default',
                                 shared=True, state=state,
                                 partition_parameter_kw=params())

    def token_parameters(self, url):
        raw = self.request_token(url).getConnectionParameterDict()
        return json.loads(raw['_']) if '_' in raw else {}

    def path(self, *names):
        return os.path.join(self.slap.instance_directory, self.partition_id,
                            *names)

    def test_update_keeps_everything(self):
        new_url = self.getSoftwareURL()
        self.slap.supply(self.old_url)
        self.addCleanup(self.slap.waitForSoftware)
        self.addCleanup(self.slap.supply, self.old_url, state='destroyed')
        self.slap.waitForSoftware(max_retry=2)
        self.request(self.old_url)
        self.addCleanup(self.slap.waitForReport, max_retry=3)
        self.addCleanup(self.instance_run, max_retry=3)
        self.addCleanup(self.request, new_url, state='destroyed')
        self.instance_run(max_retry=5)
        partition = self.request(self.old_url)
        self.partition_id = partition.getId()
        before = connection(partition)
        # what the previous layout made: a node, an unused token, a shared
        # token instance, backups
        admin = before['re6stry-local-url']
        for token in 'nodebefore', 'unusedbefore':
            self.assertEqual(get('%saddToken?email=%s@example.com&token=%s'
                                 % (admin, token, token))[0], 204)
        node = tempfile.mkdtemp(dir=WORKING_DIR)
        result = run_conf(before['re6stry-url'], node, '--fingerprint',
                          before['ca-fingerprint'], '--token', 'nodebefore')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.request_token(self.old_url)
        self.instance_run(max_retry=3)
        shared = until('the shared instance\'s token', lambda: (
            self.token_parameters(self.old_url).get('token')))
        backups = until('a backup', lambda: backup_names(
            self.path('srv', 'backup')))
        ca_files = {name: open(self.path('srv', 're6st-ca', name), 'rb')
                    .read() for name in ('ca.key', 'ca.crt', 'dh.pem')}

        # the update: the same instance, requested with this release
        self.request(new_url)
        self.instance_run(max_retry=3)
        after = connection(self.request(new_url))
        # every parameter as it was, and what this release adds
        self.assertEqual({key: after.get(key) for key in before}, before)
        self.assertEqual(sorted(set(after) - set(before)),
                         ['host-node-commands', 'host-node-status'])
        for name, data in ca_files.items():
            with open(self.path('srv', 're6st-ca', name), 'rb') as f:
                self.assertEqual(f.read(), data, name)
        url = after['re6stry-url']
        until('the registry answering', lambda: answers(url))
        self.assertEqual(get_ca(url).serial_number, 0x120010db80042)
        client, cert = node_client(url, node)
        self.assertIsNotNone(client.getNetworkConfig(cert.prefix))
        # (the private RPCs now need the admin secret, made by the update)
        headers = admin_headers(self.path())
        self.assertEqual(get('%sisToken?token=unusedbefore' % admin,
                             headers), (200, b'1'))
        self.assertEqual(self.token_parameters(new_url).get('token'), shared)
        self.assertEqual(get('%sisToken?token=%s' % (admin, shared),
                             headers), (200, b'1'))
        self.assertEqual(get('%sisToken?token=unusedbefore' % admin)[0],
                         403)
        self.assertEqual(backup_names(
            self.path('srv', 'backup'))[:len(backups)], backups)
        # the secret reaches the registry, handed over the new way
        self.assertEqual(registry_config(self.path(
            'etc', 're6st-registry.conf')).smtp_pwd, PASSWORD)
        with open(self.path('.installed.cfg')) as f:
            self.assertNotIn(PASSWORD, f.read())
        # and this release's promises pass
        self.instance_run()
        self.request_token(new_url, state='destroyed')
