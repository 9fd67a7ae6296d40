"""Shared "Re6st Token" instances on the embedded SlapOS: real registry,
real token manager service, real re6st-conf."""
import glob
import json
import os
import sqlite3
import subprocess
import time

from harness import read, until
from harness.re6st import node_certificate
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    RegistryTestCase, connection, get, setUpModule, software_path,
    steady, tearDownModule)

# Registration and revocation must happen within this many seconds (also
# wait_for's default).
DEADLINE = 60


class TestTokens(RegistryTestCase):

    def request_token(self, reference, state='started', **parameters):
        return self.slap.request(
            self.getSoftwareURL(), reference, 'default', shared=True,
            partition_parameter_kw={'_': json.dumps(parameters)},
            state=state)

    def token(self, reference, **parameters):
        """Request a token instance; its parameters once its token is
        registered (or once it is reported invalid)."""
        self.request_token(reference, **parameters)
        self.waitForInstance()

        def published():
            raw = self.request_token(
                reference, **parameters).getConnectionParameterDict()
            if '_' in raw:
                p = json.loads(raw['_'])
                if p['status'] == 'Token is ready for use' or \
                        p['status'].startswith(('Invalid', 'Token used')):
                    return p
        return until('token of %s published' % reference, published)

    def drop(self, reference):
        self.request_token(reference, state='destroyed')
        self.waitForInstance()

    def is_token(self, token):
        status, body = self.admin_get('isToken?token=' + token)
        self.assertIn(status, (200, 204))
        return body == b'1'

    def join_with(self, p):
        """re6st-conf with what a token instance published."""
        return self.join(p['token'], published=p)

    def crl(self):
        db = os.path.join(self.computer_partition_root_path, 'srv',
                          're6st-registry', 'registry.db')
        with sqlite3.connect('file:%s?mode=ro' % db, uri=True) as c:
            return {serial for serial, in c.execute('SELECT serial FROM crl')}

    def test_token_joins_shows_the_node_and_is_revoked_when_dropped(self):
        start = time.monotonic()
        p = self.token('node_one', email='owner@example.com',
                       description='lab node')
        self.assertLess(time.monotonic() - start, DEADLINE)
        self.assertEqual(p['status'], 'Token is ready for use')
        self.assertEqual(p['re6stry-url'], self.published['re6stry-url'])
        self.assertEqual(p['ca-fingerprint'], self.published['ca-fingerprint'])
        self.assertTrue(self.is_token(p['token']))
        self.assertEqual(p['join-command'].split()[:7], [
            're6st-conf', '--registry', p['re6stry-url'], '--fingerprint',
            p['ca-fingerprint'], '--token', p['token']])

        result, directory = self.join_with(p)
        self.assertEqual(result.returncode, 0, result.stderr)
        cert = node_certificate(directory)
        self.assertHostNodeIsTheMainNode()  # not the first token's node

        def used():
            raw = self.request_token('node_one', email='owner@example.com',
                                     description='lab node')
            q = json.loads(raw.getConnectionParameterDict()['_'])
            return q if 'ipv6' in q else None
        q = until('node address published', used)
        self.assertTrue(q['status'].startswith('Token used'), q['status'])
        self.assertTrue(q['ipv6'].startswith('2001:db8:42:'), q['ipv6'])
        self.assertEqual(q['token'], p['token'])

        # a token works once
        result, _ = self.join_with(p)
        self.assertNotEqual(result.returncode, 0)

        # dropping the token instance revokes the node
        self.assertNotIn(cert.serial_number, self.crl())
        self.drop('node_one')
        until('node certificate revoked',
              lambda: cert.serial_number in self.crl())

    def test_two_token_instances_two_tokens_any_reference(self):
        a = self.token('with_underscores_1')
        b = self.token('with-dashes-2')
        self.assertNotEqual(a['token'], b['token'])
        self.assertTrue(self.is_token(a['token']))
        self.assertTrue(self.is_token(b['token']))
        # dropping an unused one deletes its token, and only its token
        self.drop('with-dashes-2')
        until('unused token deleted', lambda: not self.is_token(b['token']))
        self.assertTrue(self.is_token(a['token']))

    def test_a_reference_past_the_request_line_limit_delays_no_other(self):
        """Its reference is longer than the registry's request line limit
        (http.server: 64 KB): it is registered under a digest of it, and
        the instances after it are not delayed."""
        long = self.token('a' * 70000)
        after = self.token('b_after_the_long_one')
        for p in long, after:
            self.assertEqual(p['status'], 'Token is ready for use')
            self.assertTrue(self.is_token(p['token']))
        self.drop('a' * 70000)
        until('its token deleted', lambda: not self.is_token(long['token']))

    def test_invalid_request_is_reported_on_it_only(self):
        p = self.token('bad_request', email='not an email')
        self.assertTrue(p['status'].startswith('Invalid request'), p)
        self.assertIn("'email'", p['status'])
        self.assertNotIn('token', p)
        # the registry itself is untouched
        self.assertEqual(steady(connection(self.requestDefaultInstance())),
                         steady(self.published))
        self.assertEqual(get(self.published['re6stry-url'] + 'getCa')[0], 200)

    def test_registry_restart_loses_no_token(self):
        before = self.token('before_restart')
        with self.slap.instance_supervisor_rpc as supervisor:
            registry = next(
                '%s:%s' % (p['group'], p['name'])
                for p in supervisor.getAllProcessInfo()
                if p['group'] == self.computer_partition.getId()
                and p['name'].startswith('re6st-registry-'))
            supervisor.stopProcess(registry)
            try:
                # the instance profile alone (slapos node instance would
                # start the registry again): it hands the request over
                self.request_token('during_restart')
                result = subprocess.run(
                    [os.path.join(software_path(), 'bin', 'buildout'),
                     '-c', 'buildout.cfg'],
                    cwd=self.computer_partition_root_path,
                    capture_output=True, text=True, timeout=300)
                self.assertEqual(result.returncode, 0, result.stdout)

                def pending():
                    raw = self.request_token('during_restart')
                    raw = raw.getConnectionParameterDict()
                    return '_' in raw and json.loads(raw['_'])['status']
                try:
                    status = until('token pending', pending)
                except AssertionError as e:
                    # what the token manager did meanwhile (it publishes)
                    logs = glob.glob(self.path('.*re6st-token-manager*.log'))
                    raise AssertionError('%s; the token manager\'s log: %s'
                                         % (e, ''.join(
                                             read(path)[-3000:]
                                             for path in logs)))
                self.assertIn('not registered', status)
            finally:
                supervisor.startProcess(registry)
        during = self.token('during_restart')
        self.assertEqual(during['status'], 'Token is ready for use')
        self.assertTrue(self.is_token(during['token']))
        self.assertTrue(self.is_token(before['token']))
        self.assertHostNodeIsTheMainNode()  # a stop and start keep it
