"""Switching a registry of SlapOS's own re6stnet release to this release,
in place, on the embedded SlapOS (slapos_re6st/lib/adoption.py).

How close to a real switch: the embedded SlapOS builds only this release,
so the old release's partition is made in the partition this class's
instance is then allocated (its first request, the default reference,
this release's URL), by the old release's own code: slapos.cookbook's
re6stnet.registry recipe (the egg this release pins, from its build)
makes the CA with Debian's openssl and the token files as that release's
profile runs it; re6st-registry (re6stnet 0.642 from PyPI) is started on
its configuration (re6st-registry.conf.in of that profile) as its
wrapper does, its PID where that wrapper writes it; its token manager's
own steps (re6stnet.py requestAddToken, requestRemoveToken) add the
tokens and revoke the node of a destroyed token instance; nodes join with
re6st-conf.  What the old profile's parts leave in the partition
(programs in etc/service and etc/run, a cron entry, a promise, the port
redirection) is installed by the real buildout of the software build
with the recipes that profile uses, recorded apart as its
switch-softwaretype sub-buildout records it, and its instance profile's
record (.installed.cfg) is there for this release's buildout to
uninstall (harness.old_release.OldPartition.run_profile).  Not run: the
old profile itself (its software build is not made here), its Apache
(port 9026, taken over here by the forward: its program here only waits)
and its monitor; slapos.core's port redirection is tested in
test/unit/test_forward_origin and, as root, test/root/test_node_supervisor.
The token instances are requested again with this release's URL under
their old references, as an operator does after switching the registry.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from harness import read, until
from harness.old_release import OLD_PROFILE_FILES, OldPartition, \
    cookbook, digest_tree, software_build, token_manager, write
from harness.partition import read_db
from harness.re6st import fingerprint, load_certificate, node_certificate, \
    node_client, node_prefix, run_conf
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    RegistryTestCase, WORKING_DIR, answers, connection, get_ca, setUpModule,
    tearDownModule)

OLD_PREFIX = '2001:db8:24::/48'
# the shared instances' references, as the embedded SlapOS names those
# requested as "token-N" by a user ("" + "_" + reference)
USED, REVOKED, UNUSED = '_token-1', '_token-2', '_token-3'
OLD_URL = 'http://127.0.0.1:9201/'


class TestSwitchFromSlapOSRelease(RegistryTestCase):
    # what the old instance was requested with: nothing (its default
    # prefix 2001:db8:24::/48, not this release's)
    request = {}

    old = None

    @classmethod
    def requestDefaultInstance(cls, state='started'):
        # before the first request of this release: the old partition, in
        # the partition that request gets
        if cls.old is None:
            # the only partition, named as slapos.testing formats it
            base = getattr(cls, '__partition_reference__',
                           cls.__name__ + '-')
            cls.make_old_partition(os.path.join(cls.slap.instance_directory,
                                                base + '0'))
        return super().requestDefaultInstance(state)

    @classmethod
    def make_old_partition(cls, root):
        assert os.path.isdir(root), 'no partition %s' % root
        assert not os.path.exists(os.path.join(root, 'srv', 're6st-ca')), \
            '%s holds a registry of this release already' % root
        # what an earlier run of this class left
        for relative in 'etc/re6stnet', 'srv/re6stnet', 'var/run':
            shutil.rmtree(os.path.join(root, relative), True)
        cls.work = tempfile.mkdtemp(dir=WORKING_DIR)
        assert cookbook(), 'the pinned slapos.cookbook is not built'
        old = cls.old = OldPartition(root, OLD_PREFIX, ipv4='127.0.0.1',
                                     port=9201)
        old.run_profile(software_build())
        assert old.make_ca() == 'slapos.cookbook'
        cls.fingerprint = fingerprint(load_certificate(old.cert))
        cls.tokens = old.request_tokens([USED, REVOKED, UNUSED])
        # re6st-registry as the old profile's wrapper runs it
        log = open(old.path('var/log/re6stnet/access.log'), 'ab')
        cls.old_registry = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), 're6st-registry'),
             '@' + old.conf], stdout=log, stderr=log)
        write(old.path('var/run/registry.pid'), str(cls.old_registry.pid))
        try:
            cls.run_old_partition(old)
        except BaseException:
            # tearDownClass is not run when setUpClass fails
            cls.old_registry.kill()
            cls.old_registry.wait()
            raise

    @classmethod
    def run_old_partition(cls, old):
        until('the old registry answers',
              lambda: answers(OLD_URL) or cls.old_registry.poll() is not None)
        assert cls.old_registry.poll() is None, read(
            old.path('var/log/re6stnet/registry.log'))
        token_dir = Path(old.token_dir)
        # its token manager, run by cron every 5 minutes: a token counts
        # as added at its second run
        for _ in range(3):
            token_manager('requestAddToken', OLD_URL, token_dir)
            if not list(token_dir.glob('*.add')):
                break
        cls.nodes = {}
        for reference in USED, REVOKED:
            directory = os.path.join(cls.work, reference)
            os.makedirs(directory)
            result = run_conf(OLD_URL, directory, '--fingerprint',
                              cls.fingerprint, '--token',
                              cls.tokens[reference])
            assert result.returncode == 0, result.stdout + result.stderr
            cls.nodes[reference] = directory
        # the shared instance of REVOKED destroyed: the recipe's .remove,
        # then its token manager revokes the node
        old.request_tokens([USED, UNUSED])
        token_manager('requestRemoveToken', OLD_URL, token_dir)
        assert not (token_dir / (REVOKED + '.remove')).exists()
        cls.old_files = digest_tree(old.conf_dir)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if cls.old_registry.poll() is None:
                cls.old_registry.kill()
            cls.old_registry.wait()
            shutil.rmtree(cls.work, True)

    def request_token(self, name, state='started'):
        return self.slap.request(
            self.getSoftwareURL(), name, 'default', shared=True,
            partition_parameter_kw={'_': json.dumps({})}, state=state)

    def token(self, name, reference):
        """A token instance requested with this release's URL: what it
        publishes once the token manager has published it (serialised,
        and the old plain keys of an adopted one)."""
        self.request_token(name)
        self.waitForInstance()

        def published():
            raw = self.request_token(name).getConnectionParameterDict()
            if '_' in raw and json.loads(raw['_']).get('status', '') \
                    .startswith(('Token is ready', 'Token used')):
                return raw
        raw = until('token of %s (%s) published' % (name, reference),
                    published, timeout=120)
        return json.loads(raw['_']), raw

    def test_the_old_registry_was_stopped_and_its_files_kept(self):
        # stopped by the adoption (SIGTERM), not by this test
        self.old_registry.wait(30)
        self.assertEqual(digest_tree(self.old.conf_dir), self.old_files)
        record = json.loads(read(self.path('srv', 're6st-adoption.json')))
        self.assertEqual(record['ca-fingerprint'], self.fingerprint)
        self.assertEqual(record['ipv6-prefix'], OLD_PREFIX)

    def test_the_old_profiles_programs_and_promises_are_retired(self):
        # what slapos runs in the partition: this release's services only
        # (the old program that only waits would run if left); the old
        # promise, on a port nothing serves now, no longer fails the
        # instance runs (setUpClass waited for one to pass)
        self.assertEqual(sorted(self.supervisor_processes()), [
            're6st-backup', 're6st-forward', 're6st-registry',
            're6st-token-manager'])
        record = json.loads(read(self.path('srv', 're6st-adoption.json')))
        self.assertEqual(sorted(record['retired']),
                         sorted(OLD_PROFILE_FILES))
        for relative in OLD_PROFILE_FILES:
            self.assertTrue(os.path.lexists(self.path(
                'srv', 're6st-adoption', 'old-profile', relative)), relative)
        self.assertFalse(os.path.exists(self.path('etc', 'service',
                                                  'httpd')))
        self.assertFalse(os.path.exists(self.path('etc', 'promise',
                                                  're6st-registry')))

    def test_same_ca_published_and_served_at_the_old_url(self):
        self.assertEqual(self.published['ca-fingerprint'], self.fingerprint)
        self.assertEqual(self.published['re6stry-url'], 'http://[::1]:9026')
        for url in 'http://[::1]:9026/', 'http://[::1]:9201/':
            self.assertEqual(fingerprint(get_ca(url)), self.fingerprint)
        redirects = json.loads(read(self.path('.slapos-port-redirect')))
        self.assertIn(9201, [r['srcPort'] for r in redirects])

    def test_old_nodes_renew_and_read_config_and_crl(self):
        url = self.published['re6stry-url'] + '/'
        node = self.nodes[USED]
        client, cert = node_client(url, node)
        config = json.loads(zlib.decompress(
            client.getNetworkConfig(cert.prefix)))
        revoked = node_certificate(self.nodes[REVOKED]).serial_number
        self.assertIn(revoked, config['crl'])
        renewed = node_client(url, node)[0].renewCertificate(cert.prefix)
        self.assertIsNotNone(renewed, 'renewCertificate refused the node')
        # the revoked node stays revoked
        client, cert = node_client(url, self.nodes[REVOKED])
        try:
            answer = client.renewCertificate(cert.prefix)
        except Exception:
            answer = None
        self.assertFalse(answer)

    def test_main_node_unchanged(self):
        db = self.path('srv', 're6st-registry', 'registry.db')
        (main,), = read_db(db, "SELECT value FROM config WHERE name='prefix'")
        self.assertEqual(main, node_prefix(self.nodes[USED])[0])
        (email,), = read_db(db, 'SELECT email FROM cert WHERE prefix=?',
                            (main,))
        self.assertEqual(email, '%s@slapos' % USED.lower())
        # no certificate made for this partition's host node
        self.assertFalse(os.path.exists(self.path(
            'srv', 're6st-host-node', 'cert.crt')))
        status = connection(self.requestDefaultInstance())['host-node-status']
        self.assertIn(main, status)

    def test_token_instances_keep_token_and_state_and_a_new_one_works(self):
        used, raw = self.token('token-1', USED)
        self.assertEqual(used['token'], self.tokens[USED])
        self.assertTrue(used['status'].startswith('Token used'), used)
        self.assertEqual(raw['token'], self.tokens[USED])
        self.assertEqual(raw['1_info'], used['status'])
        self.assertEqual(raw['ipv6'], used['ipv6'])
        unused, raw = self.token('token-3', UNUSED)
        self.assertEqual(unused['token'], self.tokens[UNUSED])
        self.assertEqual(unused['status'], 'Token is ready for use')
        self.joined(unused['token'], published=unused)
        new, raw = self.token('token-4', '_token-4')
        self.assertNotIn('1_info', raw)
        self.joined(new['token'], published=new)
