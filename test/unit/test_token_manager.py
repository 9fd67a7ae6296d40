"""The token manager: its logic against a fake registry and a fake
master; what it asks the registry, against the real re6st-registry."""
import json
import re

from slapos_re6st.lib.client import RegistryError
from slapos_re6st.tokens import manager as tokens
from slapos_re6st.tokens.requests import read_requests
from slapos_re6st.tokens.store import Store
from support import TOKEN_SCHEMA_PATH
from support.fakes import FakeMaster, FakeRegistry
from support.re6st import RunningRegistry
from harness.tempdir import TempDir

with open(TOKEN_SCHEMA_PATH) as f:
    SCHEMA = json.load(f)
CONFIG = {'re6stry-url': 'http://[::1]:9201/',
          'ca-fingerprint': 'sha256:' + '0' * 64}


class TestManager(TempDir):

    def setUp(self):
        super().setUp()
        self.registry = FakeRegistry()
        self.master = FakeMaster()
        self.now = 1000.0
        self.manager = self.new_manager()

    def new_manager(self):
        """A manager as after a restart of the service."""
        return tokens.Manager(CONFIG, self.registry, self.master,
                              Store(self.path('db')),
                              SCHEMA, now=lambda: self.now)

    def store_unregister(self, reference):
        self.manager.store.update(reference, registered=0)

    def step(self, *references, invalid=None, **requests):
        valid = {ref: {} for ref in references}
        valid.update(requests)
        self.manager.step((valid, invalid or {}))

    def test_each_shared_instance_gets_its_own_registered_token(self):
        self.step('a_1', 'b-2')
        a, b = self.master.published['a_1'], self.master.published['b-2']
        self.assertNotEqual(a['token'], b['token'])
        for p in a, b:
            self.assertRegex(p['token'], '^[0-9a-f]{32}$')
            self.assertEqual(p['status'], tokens.READY)
            self.assertIn(p['token'], self.registry.tokens)
            self.assertIn('--token %s' % p['token'], p['join-command'])
            self.assertIn('--fingerprint %s' % CONFIG['ca-fingerprint'],
                          p['join-command'])
            self.assertEqual(p['re6stry-url'], CONFIG['re6stry-url'])
        self.assertEqual(self.registry.tokens[a['token']], 'a_1')

    def test_token_never_changes_and_unchanged_is_not_republished(self):
        self.step('a')
        token = self.master.published['a']['token']
        count = self.master.count
        self.step('a')
        self.manager = self.new_manager()
        self.step('a')
        self.assertEqual(self.master.published['a']['token'], token)
        self.assertEqual(self.master.count, count)

    def test_registry_down_is_retried(self):
        self.registry.down = True
        self.step('a')
        self.assertIn('not registered', self.master.published['a']['status'])
        self.assertEqual(self.registry.tokens, {})
        self.registry.down = False
        self.step('a')
        self.assertEqual(self.master.published['a']['status'], tokens.READY)

    def test_use_is_published(self):
        self.step('a')
        token = self.master.published['a']['token']
        self.registry.use(token, '7/16')
        self.now += tokens.USE_CHECK_PERIOD + 1
        self.step('a')
        published = self.master.published['a']
        self.assertEqual(published['ipv6'], '2001:db8:42:7::')
        self.assertIn('Token used: node 2001:db8:42:7::', published['status'])

    def test_use_checks_are_bounded_per_pass(self):
        self.step(*('t%d' % i for i in range(3 * tokens.USE_CHECKS)))
        self.now += tokens.USE_CHECK_PERIOD + 1
        calls = self.registry.calls
        self.step(*('t%d' % i for i in range(3 * tokens.USE_CHECKS)))
        self.assertEqual(self.registry.calls - calls, tokens.USE_CHECKS)

    def test_a_token_the_registry_fails_on_blocks_no_other(self):
        self.step('a', 'b')
        broken = self.registry.node_prefix

        def node_prefix(email):
            if email == 'a':
                raise RegistryError('getNodePrefix answered 500')
            return broken(email)
        self.registry.node_prefix = node_prefix
        for reference in 'a', 'b':
            self.registry.use(self.master.published[reference]['token'],
                              '%d/16' % ord(reference))
        for _ in range(2):
            self.now += tokens.USE_CHECK_PERIOD + 1
            self.step('a', 'b')
        self.assertIn('ipv6', self.master.published['b'])
        self.assertNotIn('ipv6', self.master.published['a'])

    def test_a_token_the_registry_refuses_delays_no_other(self):
        self.step('a')
        token = self.master.published['a']['token']
        self.registry.refused.add(token)
        self.registry.tokens.clear()
        self.manager = self.new_manager()  # a's token registered again...
        self.store_unregister('a')
        self.step('a', 'b', 'c')  # ... refused: b and c registered anyway
        self.assertIn('not registered', self.master.published['a']['status'])
        for reference in 'b', 'c':
            self.assertEqual(self.master.published[reference]['status'],
                             tokens.READY)
        self.registry.refused.clear()
        self.step('a', 'b', 'c')
        self.assertEqual(self.master.published['a']['status'], tokens.READY)

    def test_a_reference_longer_than_a_request_line_registers(self):
        reference = 'x' * (FakeRegistry.REQUEST_LINE + 1)
        self.step(reference, 'short')
        published = self.master.published[reference]
        self.assertEqual(published['status'], tokens.READY)
        email = self.registry.tokens[published['token']]
        self.assertEqual(email, tokens.registry_email(reference))
        self.assertLess(len(email), 64)
        self.assertEqual(self.registry.tokens[
            self.master.published['short']['token']], 'short')
        # used, then dropped: found and revoked by the same name
        self.registry.use(published['token'], '9/16')
        self.now += tokens.USE_CHECK_PERIOD + 1
        self.step(reference, 'short')
        self.assertIn('ipv6', self.master.published[reference])
        self.step('short')
        self.assertEqual(self.registry.revoked, ['9/16'])

    def test_consumed_token_without_node_is_added_again(self):
        self.step('a')
        token = self.master.published['a']['token']
        del self.registry.tokens[token]  # a request killed half-way
        self.now += tokens.USE_CHECK_PERIOD + 1
        self.step('a')  # found consumed without a node
        self.step('a')  # registered again
        self.assertIn(token, self.registry.tokens)
        self.assertEqual(self.master.published['a']['status'], tokens.READY)

    def test_dropping_an_unused_token_deletes_it(self):
        self.step('a', 'b')
        token = self.master.published['a']['token']
        self.step('b')
        self.assertNotIn(token, self.registry.tokens)
        self.assertEqual(len(self.registry.tokens), 1)
        self.assertEqual(self.registry.revoked, [])

    def test_dropping_a_used_token_revokes_the_node(self):
        self.step('a')
        self.registry.use(self.master.published['a']['token'], '7/16')
        self.step()  # dropped before the service even saw the use
        self.assertEqual(self.registry.revoked, ['7/16'])

    def test_drop_is_retried_until_the_registry_answers(self):
        self.step('a')
        token = self.master.published['a']['token']
        self.registry.down = True
        self.step()
        self.registry.down = False
        self.assertIn(token, self.registry.tokens)
        self.step()
        self.assertNotIn(token, self.registry.tokens)

    def test_unknown_requests_drop_nothing(self):
        self.step('a')
        self.manager.step(None)
        self.assertEqual(len(self.registry.tokens), 1)

    def test_invalid_request_is_reported_on_it_only(self):
        self.step('good', invalid={'bad': "'email': 'x' is not a 'email'."})
        self.assertEqual(self.master.published['good']['status'], tokens.READY)
        self.assertTrue(self.master.published['bad']['status'].startswith(
            'Invalid request:'))
        self.assertNotIn('token', self.master.published['bad'])
        self.assertEqual(len(self.registry.tokens), 1)


class TestRequests(TempDir):

    def setUp(self):
        super().setUp()
        self.requests = self.path('requested.json')

    def read(self, shared):
        with open(self.requests, 'w') as f:
            json.dump(shared, f)
        return read_requests(self.requests, SCHEMA)

    def test_missing_file_is_unknown_not_empty(self):
        self.assertIsNone(read_requests(self.requests, SCHEMA))
        self.assertEqual(self.read([]), ({}, {}))

    def test_valid_and_invalid(self):
        valid, invalid = self.read([
            {'reference': 'ok', 'parameters': {'_': json.dumps(
                {'email': 'owner@example.com', 'description': 'lab node'})}},
            {'reference': 'empty', 'parameters': {}},
            {'reference': 'bad-email', 'parameters': {'_': json.dumps(
                {'email': 'not an email'})}},
            {'reference': 'unknown', 'parameters': {'_': json.dumps(
                {'colour': 'blue'})}},
            {'reference': 'not-json', 'parameters': {'_': '{'}},
            {'reference': 'two-lines', 'parameters': {'_': json.dumps(
                {'email': 'owner@example.com\nBcc: x@example.com'})}},
            {'reference': 'long-text', 'parameters': {'_': json.dumps(
                {'description': 'lab node\nsecond floor'})}},
        ])
        self.assertEqual(valid, {'ok': {'email': 'owner@example.com',
                                        'description': 'lab node'},
                                 'empty': {},
                                 'long-text': {'description':
                                               'lab node\nsecond floor'}})
        self.assertEqual(sorted(invalid), ['bad-email', 'not-json',
                                           'two-lines', 'unknown'])
        self.assertIn('one line', invalid['two-lines'])
        self.assertIn("'email'", invalid['bad-email'])
        self.assertIn("'colour'", invalid['unknown'])
        self.assertTrue(re.search('email', invalid['unknown']))


class TestRegistryRpcs(TempDir):
    """What the manager asks re6st-registry (tokens.manager.Registry,
    through re6st's own client), against the real re6st-registry."""

    def setUp(self):
        super().setUp()
        self.server = RunningRegistry(self.path('registry'))
        self.addCleanup(self.server.stop)
        self.registry = tokens.Registry(self.server.url, self.server.secret)

    def test_refused_without_the_admin_secret(self):
        with self.assertRaisesRegex(tokens.RegistryError, '403'):
            tokens.Registry(self.server.url).is_token('tokenx')
        self.assertFalse(self.registry.is_token('tokenx'))

    def test_a_token_from_addition_to_revocation(self):
        registry = self.registry
        registry.add_token('shared-a', 'tokena')
        # added again (the answer to the first call lost): no error
        registry.add_token('shared-a', 'tokena')
        self.assertTrue(registry.is_token('tokena'))
        self.assertIsNone(registry.node_prefix('shared-a'))
        self.assertIsNone(registry.ipv6('shared-a'))
        directory = self.server.join('tokena')
        self.assertFalse(registry.is_token('tokena'))
        prefix = registry.node_prefix('shared-a')
        self.assertEqual(prefix, self.server.node_prefix(directory))
        self.assertTrue(registry.ipv6('shared-a').startswith('2001:db8:42:'))
        registry.revoke(prefix)
        self.assertIsNone(registry.node_prefix('shared-a'))

    def test_deleted_token(self):
        self.registry.add_token('shared-b', 'tokenb')
        self.registry.delete_token('tokenb')
        self.assertFalse(self.registry.is_token('tokenb'))

    def test_a_registry_down_is_a_registry_error(self):
        self.server.stop()
        for call in (lambda: self.registry.add_token('x', 'tokenx'),
                     lambda: self.registry.is_token('tokenx'),
                     lambda: self.registry.node_prefix('x')):
            with self.assertRaises(RegistryError) as e:
                call()
            self.assertNotIn('tokenx', str(e.exception))
