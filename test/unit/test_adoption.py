"""Adoption of a registry of SlapOS's re6stnet release
(slapos_re6st/lib/adoption.py, the adoption recipe): partitions made as
that release makes them (support/old_release.py: the cookbook recipe's
own code when its egg is importable, else its openssl commands; re6st's
own RegistryServer for the database), adopted, refused, and the adopted
registry run by the real re6st-registry with this release's token
manager."""
import json
import os
import shutil
import signal
import subprocess
import sys

import zc.buildout

from slapos_re6st.lib import adoption, ca, files
from slapos_re6st.recipe import adoption as recipe
from slapos_re6st.recipe import forward as forward_recipe
from slapos_re6st.tokens import manager as tokens
from slapos_re6st.tokens.store import Store
from support import TOKEN_SCHEMA_PATH
from support.fakes import FakeMaster
from support.old_release import OldPartition, digest_tree
from support.re6st import RunningRegistry
from harness.tempdir import TempDir

OLD_PREFIX = '2001:db8:24::/48'
REFERENCES = ['SOFTINST-11', 'SOFTINST-12', 'SOFTINST-13']


class OldLayout(TempDir):
    """An old partition in self.old: three token instances, the first one
    used (its node the main node), the second added, the third still
    waiting for the token manager; this release's paths in self.target."""

    def setUp(self):
        super().setUp()
        self.old = OldPartition(self.path('part'), OLD_PREFIX)
        self.made_by = self.old.make_ca()
        self.tokens = self.old.request_tokens(REFERENCES[:2])
        self.old.add_tokens()
        self.main = self.old.use_token(REFERENCES[0])
        self.tokens = self.old.request_tokens(REFERENCES)
        self.target = adoption.Target(
            self.path('part/srv/re6st-ca/ca.key'),
            self.path('part/srv/re6st-ca/ca.crt'),
            self.path('part/srv/re6st-ca/dh.pem'),
            self.path('part/srv/re6st-registry/registry.db'),
            self.path('part/srv/re6st-tokens/tokens.db'),
            self.path('part/srv/re6st-adoption.json'))

    def assertRefused(self, change, *args, **kw):
        """check/adopt refused, with both layouts left byte-identical."""
        before = digest_tree(self.old.root)
        with self.assertRaises(adoption.Refusal) as e:
            plan = adoption.check(adoption.find(self.old.root), *args, **kw)
            adoption.check_target(self.target)
            adoption.adopt(plan, self.target)
        self.assertEqual(digest_tree(self.old.root), before)
        self.assertIn(change, str(e.exception))
        self.assertEqual(str(e.exception).count('. '), 0, e.exception)
        return str(e.exception)


class TestAdoption(OldLayout):

    def test_layout_found_checked_and_copied(self):
        before = digest_tree(self.old.root)
        layout = adoption.find(self.old.root)
        plan = adoption.check(layout)
        self.assertEqual(plan.ipv6_prefix, OLD_PREFIX)
        self.assertEqual(plan.key_size, 2048)
        cert = ca.load_certificate(self.old.cert)
        self.assertEqual(plan.fingerprint, ca.fingerprint(cert))
        self.assertEqual(plan.main_email, 'softinst-11@slapos')
        self.assertEqual(plan.nodes, 1)
        by_ref = {t.reference: t for t in plan.tokens}
        self.assertEqual(sorted(by_ref), REFERENCES)
        self.assertTrue(by_ref['SOFTINST-11'].registered)
        self.assertTrue(by_ref['SOFTINST-12'].registered)
        self.assertFalse(by_ref['SOFTINST-13'].registered)
        record = adoption.adopt(plan, self.target)
        # the old files untouched, this release's a copy
        self.assertEqual({k: v for k, v in digest_tree(self.old.root).items()
                          if not k.startswith('srv/re6st-')}, before)
        self.assertEqual(files.read(self.target.key),
                         files.read(self.old.key))
        self.assertEqual(os.stat(self.target.key).st_mode & 0o777, 0o600)
        self.assertEqual(files.read(self.target.cert),
                         files.read(self.old.cert))
        self.assertEqual(files.read(self.target.dh), files.read(self.old.dh))
        self.assertEqual(
            adoption.read_db(self.target.db, 'SELECT * FROM cert'),
            adoption.read_db(self.old.db, 'SELECT * FROM cert'))
        self.assertEqual(record['files'][adoption.OLD_KEY],
                         files.sha256(self.old.key))
        self.assertEqual(adoption.read_record(self.target.record), record)
        store = Store(self.target.tokens_db)
        rows = {r['reference']: r for r in store.rows()}
        self.assertEqual({r: rows[r]['token'] for r in rows}, self.tokens)
        self.assertEqual(store.adopted_email('SOFTINST-11'),
                         'softinst-11@slapos')

    def test_the_old_profiles_parts_are_retired_not_lost(self):
        """What the old profile's parts installed, as its sub-buildout's
        record names it (written here in buildout's format: the standalone
        switch test has the real buildout and recipes make it), is moved
        under srv/re6st-adoption/old-profile: slapos neither runs nor
        checks it any more; data it names, and what is outside the
        partition, stay where they are."""
        root = self.old.root
        made = {'etc/service/httpd': '#!/bin/sh\nexec sleep 1000\n',
                'etc/run/re6st-token-manager': '#!/bin/sh\n',
                'etc/promise/re6st-registry': '#!/bin/sh\nexit 1\n',
                'etc/cron.d/re6stnet-check-token': '*/5 * * * * true\n',
                'parts/monitor/monitor.conf': '[monitor]\n'}
        for relative, text in made.items():
            os.makedirs(os.path.dirname(os.path.join(root, relative)),
                        exist_ok=True)
            files.write(os.path.join(root, relative), text)
        outside = self.path('outside')
        files.write(outside, 'not the partition\n')
        data = ['etc/re6stnet/token.json', 'srv', 'var/log',
                'etc/re6stnet/ssl/re6stnet.key']
        with open(os.path.join(root, adoption.OLD_RECORDS[0]), 'w') as f:
            f.write('[buildout]\ninstalled_develop_eggs = \n'
                    'parts = httpd cron monitor data\n\n'
                    '[httpd]\n__buildout_installed__ = %s/etc/service/httpd'
                    '\n__buildout_signature__ = slapos.cookbook-1.0.514\n'
                    'recipe = slapos.cookbook:wrapper\n\n'
                    '[cron]\n__buildout_installed__ = %s\n\t%s\n\t%s\n'
                    'recipe = slapos.cookbook:cron.d\n\n'
                    '[monitor]\n__buildout_installed__ = %s/parts/monitor/\n'
                    '\n[data]\n__buildout_installed__ = %s\n\t%s\n'
                    '\t%s/etc/not-there\n' % (
                        root, os.path.join(root, 'etc/run/re6st-token-manager'),
                        os.path.join(root, 'etc/promise/re6st-registry'),
                        os.path.join(root, 'etc/cron.d/re6stnet-check-token'),
                        root, outside, '\n\t'.join(
                            os.path.join(root, d) for d in data), root))
        def contents():
            return {d: digest_tree(os.path.join(root, d))
                    if os.path.isdir(os.path.join(root, d))
                    else files.read(os.path.join(root, d)) for d in data}
        kept = contents()
        record = adoption.adopt(adoption.check(adoption.find(root)),
                                self.target)
        self.assertEqual(sorted(record['retired']), sorted(
            ['etc/service/httpd', 'etc/run/re6st-token-manager',
             'etc/promise/re6st-registry', 'etc/cron.d/re6stnet-check-token',
             'parts/monitor', adoption.OLD_RECORDS[0]]))
        retired = os.path.join(root, adoption.RETIRED)
        for relative, text in made.items():
            self.assertFalse(os.path.lexists(os.path.join(root, relative)))
            self.assertEqual(files.read(os.path.join(retired, relative)),
                             text)
        self.assertTrue(os.path.isfile(os.path.join(
            retired, adoption.OLD_RECORDS[0])))
        self.assertEqual(files.read(outside), 'not the partition\n')
        now = contents()
        # srv holds this release's data now too: the old data there intact
        for relative, digest in kept.pop('srv').items():
            self.assertEqual(now['srv'][relative], digest, relative)
        del now['srv']
        self.assertEqual(now, kept)

    def test_destroyed_shared_instance_is_adopted_as_dropped(self):
        self.old.request_tokens(REFERENCES[1:])  # SOFTINST-11 destroyed
        plan = adoption.check(adoption.find(self.old.root))
        dropped = [t for t in plan.tokens if t.dropped]
        self.assertEqual([t.reference for t in dropped], ['SOFTINST-11'])
        self.assertTrue(dropped[0].registered)

    def test_nothing_to_adopt(self):
        self.assertIsNone(adoption.find(self.path('empty')))

    def test_key_of_another_certificate_is_refused(self):
        files.write(self.old.key, ca.private_pem(ca.make_key(2048)))
        self.assertRefused('is not the key of the CA certificate')

    def test_database_of_another_ca_is_refused(self):
        other = OldPartition(self.path('other'), OLD_PREFIX)
        other.make_ca()
        other.request_tokens(['SOFTINST-9'])
        other.add_tokens()
        other.use_token('SOFTINST-9')
        shutil.copy(other.db, self.old.db)
        self.assertRefused('holds certificates of another CA')

    def test_other_prefix_or_key_size_requested_is_refused(self):
        message = self.assertRefused('bound to %s' % OLD_PREFIX,
                                     '2001:db8:42::/48')
        self.assertIn('request ipv6-prefix %s' % OLD_PREFIX, message)
        self.assertRefused('has 2048 bits', OLD_PREFIX, 4096)

    def test_missing_key_is_refused(self):
        os.unlink(self.old.key)
        self.assertRefused('without its CA key')

    def test_unreadable_token_list_is_refused(self):
        files.write(os.path.join(self.old.conf_dir, 'token.json'), '[1]')
        self.assertRefused('is not what that release writes')

    def test_this_release_data_there_too_is_refused(self):
        os.makedirs(os.path.dirname(self.target.cert))
        files.write(self.target.cert, b'x')
        self.assertRefused('holds both')

    def test_a_running_old_registry_is_stopped(self):
        process = subprocess.Popen(
            [sys.executable, '-c', 'import time; time.sleep(60)',
             're6st-registry'])
        self.addCleanup(process.kill)
        files.write(self.old.path('var/run/registry.pid'), str(process.pid))
        self.assertEqual(adoption.running(self.old.root),
                         [(process.pid, 'var/run/registry.pid')])
        adoption.stop(self.old.root)
        self.assertEqual(process.wait(5), -signal.SIGTERM)
        self.assertEqual(adoption.running(self.old.root), [])

    def test_a_pid_file_of_another_program_is_left_alone(self):
        process = subprocess.Popen(
            [sys.executable, '-c', 'import time; time.sleep(60)'])
        self.addCleanup(process.kill)
        files.write(self.old.path('var/run/registry.pid'), str(process.pid))
        adoption.stop(self.old.root)
        self.assertIsNone(process.poll())


def recipe_options(old, target, **parameters):
    return {
        'partition': old.root, 'parameters': json.dumps(parameters),
        'ipv6-prefix': parameters.get('ipv6-prefix', '2001:db8:42::/48'),
        'key-size': str(parameters.get('key-size', 2048)),
        'ipv6': '2001:db8::1', 'key': target.key, 'cert': target.cert,
        'dh': target.dh, 'db': target.db, 'tokens-db': target.tokens_db,
        'record': target.record,
        'default-url': 'http://[2001:db8::1]:9201/'}


class TestRecipe(OldLayout):

    def test_adopted_once_then_left_alone(self):
        options = recipe_options(self.old, self.target)
        before = digest_tree(self.dir)
        made = recipe.Recipe(None, 'adoption', options)
        # made: nothing written, [ca] told which CA comes
        self.assertEqual(digest_tree(self.dir), before)
        self.assertEqual(options['adopted-cert'], self.old.cert)
        self.assertEqual(options['current-db'], self.old.db)
        self.assertEqual(made.install(), [])
        self.assertEqual(files.read(self.target.cert),
                         files.read(self.old.cert))
        self.assertEqual(options['adopted'], 'true')
        # the request names no prefix: the adopted CA's, not the default
        self.assertEqual(options['ipv6-prefix'], OLD_PREFIX)
        self.assertEqual(options['re6stry-url'], 'http://[2001:db8::1]:9026')
        self.assertEqual(options['listen'], '2001:db8::1 9026')
        self.assertEqual(options['redirect-ports'], '9201')
        record = files.read(self.target.record)
        # data moved on: a new node, the old files changed meanwhile
        with open(self.target.db, 'ab'):
            pass
        os.unlink(self.old.key)
        options = recipe_options(self.old, self.target)
        recipe.Recipe(None, 'adoption', options).install()
        self.assertEqual(files.read(self.target.record), record)
        self.assertEqual(options['adopted-cert'], '')
        self.assertEqual(options['current-db'], self.target.db)
        self.assertEqual(options['ipv6-prefix'], OLD_PREFIX)

    def test_refusal_is_a_user_error(self):
        before = digest_tree(self.old.root)
        with self.assertRaises(zc.buildout.UserError) as e:
            recipe.Recipe(None, 'adoption', recipe_options(
                self.old, self.target, **{'ipv6-prefix': '2001:db8:42::/48'}))
        self.assertIn('nothing was changed', str(e.exception))
        self.assertEqual(digest_tree(self.old.root), before)

    def test_nothing_to_adopt_passes_the_request_through(self):
        shutil.rmtree(self.old.root)
        options = recipe_options(self.old, self.target)
        recipe.Recipe(None, 'adoption', options).install()
        self.assertEqual(options['adopted'], '')
        self.assertEqual(options['ipv6-prefix'], '2001:db8:42::/48')
        self.assertEqual(options['re6stry-url'], 'http://[2001:db8::1]:9201/')
        self.assertEqual(options['listen'], '')
        self.assertFalse(os.path.exists(self.target.record))

    def test_forward_listens_at_the_old_url_too(self):
        options = {'output': self.path('fw.cfg'), 'listen': '::1',
                   'port': '9201', 'registry': '127.0.0.1:9200',
                   'source': '127.0.0.2', 'extra-listen': '::1 9026'}
        text = forward_recipe.Recipe(None, 'forward', options).text
        self.assertRegex(text, r'bind \[::1\]:9026 v6only')
        self.assertRegex(text, r'bind \[::1\]:9201 v6only')
        options['extra-listen'] = '::1'
        with self.assertRaises(zc.buildout.UserError):
            forward_recipe.Recipe(None, 'forward', options)


class TestLegacyParameters(TempDir):

    def test_old_values_are_taken_with_a_warning(self):
        parameters, warnings = adoption.legacy_parameters({
            'community-conf': '0 *', 'same-country': 'fr,DE',
            'min-protocol': -1, 'max-clients': '0', 'uri-scheme': 'http',
            'prefix-length': 16})
        self.assertEqual(parameters, {'community': '0 *',
                                      'same-country': ['FR', 'DE'],
                                      'prefix-length': 16})
        self.assertEqual(len(warnings), 5)

    def test_a_request_of_this_release_is_unchanged(self):
        request = {'same-country': ['FR'], 'min-protocol': 2,
                   'max-clients': 30, 'community': '0 *'}
        self.assertEqual(adoption.legacy_parameters(request), (request, []))

    def test_https_is_refused(self):
        with self.assertRaises(adoption.Refusal) as e:
            adoption.legacy_parameters({'uri-scheme': 'https'})
        self.assertIn('http:// registry URL', str(e.exception))


class TestAdoptedRegistry(OldLayout):
    """The adopted database and CA under the real re6st-registry, with
    this release's token manager on the adopted tokens."""

    def test_tokens_keep_their_state_and_a_destroyed_one_revokes(self):
        plan = adoption.check(adoption.find(self.old.root))
        adoption.adopt(plan, self.target)
        directory = os.path.dirname(self.target.key)
        for name in 'registry.db', :
            shutil.copy(self.target.db, os.path.join(directory, name))
        server = RunningRegistry(directory, prefix=OLD_PREFIX)
        self.addCleanup(server.stop)
        self.assertEqual(server.fingerprint, plan.fingerprint)
        with open(TOKEN_SCHEMA_PATH) as f:
            schema = json.load(f)
        master = FakeMaster()
        config = {'re6stry-url': 'http://[::1]:9026',
                  'ca-fingerprint': plan.fingerprint}
        manager = tokens.Manager(
            config, tokens.Registry(server.url, server.secret), master,
            Store(self.target.tokens_db), schema)
        # before the token instances are requested of this release: none
        # dropped, nothing published
        manager.step(({}, {}))
        self.assertEqual(master.published, {})
        self.assertEqual(manager.registry.node_prefix('softinst-11@slapos'),
                         self.main)
        manager.step(({r: {} for r in REFERENCES}, {}))
        published = master.published
        self.assertEqual({r: published[r]['token'] for r in REFERENCES},
                         self.tokens)
        self.assertTrue(published['SOFTINST-11']['status'].startswith(
            'Token used: node '))
        # and what SlapOS's re6stnet release published, as it did
        plain = master.plain['SOFTINST-11']
        self.assertEqual(plain['1_info'], published['SOFTINST-11']['status'])
        self.assertEqual(plain['token'], self.tokens['SOFTINST-11'])
        self.assertEqual(plain['ipv6'], published['SOFTINST-11']['ipv6'])
        self.assertEqual(plain['ipv4'], '0.0.0.0')
        self.assertEqual(master.plain['SOFTINST-12']['ipv6'], '::')
        self.assertEqual(published['SOFTINST-12']['status'], tokens.READY)
        # the third, never added by the old manager, is added now
        self.assertEqual(published['SOFTINST-13']['status'], tokens.READY)
        self.assertTrue(manager.registry.is_token(self.tokens['SOFTINST-13']))
        # the used one's shared instance destroyed: its node revoked
        self.assertEqual(manager.registry.node_prefix('softinst-11@slapos'),
                         self.main)
        manager.step(({r: {} for r in REFERENCES[1:]}, {}))
        self.assertIsNone(
            manager.registry.node_prefix('softinst-11@slapos'))
