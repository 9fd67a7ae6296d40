"""re6st-restore without SlapOS: real backups restored into fresh
partitions, real processes told to restart, refusals that change
nothing."""
import os
import sqlite3
import stat

from slapos_re6st.backup import directory, restore, snapshot
from slapos_re6st.cli import restore as restore_cli
from slapos_re6st.lib import ca
from slapos_re6st.lib.process import process_of
from support import PREFIX, until
from support.partition import PartitionTestCase, table


class TestRestore(PartitionTestCase):

    def test_restore_into_a_fresh_partition(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        fresh = self.partition('fresh')
        self.assertNotEqual(ca.fingerprint(old.cert),
                            ca.fingerprint(fresh.cert))
        fresh_ca = fresh.read('srv/re6st-ca/ca.crt')
        services = ('re6st-registry', 're6st-token-manager')
        for service in services:
            self.supervise(fresh, service)
        before = {service: until('%s started' % service, lambda: process_of(
            fresh.path('var/run/%s.pid' % service)), 10, 0.05)
            for service in services}
        snapshot.backup(fresh.config)  # as its service did at its start
        kept, manifest, signalled, forced, first = restore.restore(
            saved, fresh.root)
        self.assertEqual(forced, [])
        for name in 'ca.key', 'ca.crt', 'dh.pem':
            self.assertEqual(fresh.read('srv/re6st-ca/' + name),
                             old.read('srv/re6st-ca/' + name), name)
        self.assertEqual(stat.S_IMODE(os.stat(
            fresh.path('srv/re6st-ca/ca.key')).st_mode), 0o600)
        self.assertEqual(manifest['ca-fingerprint'], ca.fingerprint(old.cert))
        self.assertEqual(
            table(fresh.config['registry-db'], 'SELECT email FROM cert'),
            [('node@%s' % PREFIX,)])
        self.assertEqual(
            table(fresh.config['tokens-db'], 'SELECT reference FROM token'),
            [('shared-old',)])
        # what it replaced is kept, and is no backup to prune
        self.assertTrue(os.path.basename(kept).startswith('before-restore-'))
        with open(os.path.join(kept, 'ca.crt'), 'rb') as f:
            self.assertEqual(f.read(), fresh_ca)
        self.assertEqual(table(os.path.join(kept, 'tokens.db'),
                               'SELECT reference FROM token'),
                         [('shared-fresh',)])
        self.assertNotIn(os.path.basename(kept), fresh.backups())
        # both services were told to stop, and run again (re6st-service
        # started them) when the restore returns
        self.assertEqual(signalled, before)
        for service in services:
            now = process_of(fresh.path('var/run/%s.pid' % service))
            self.assertNotIn(now, (None, before[service]), service)
        # the newest backup is of what was restored: the next push to the
        # restored network's backup-repository continues its history
        self.assertEqual(fresh.backups()[-1], os.path.basename(first))
        self.assertEqual(restore.read_backup(first)['ca-fingerprint'],
                         ca.fingerprint(old.cert))
        # the restored CA is what the next instance run finds and publishes
        self.assertEqual(
            ca.fingerprint(ca.ensure_ca(
                fresh.config['ca-key'], fresh.config['ca-cert'],
                fresh.config['dh'], 2048, PREFIX)),
            ca.fingerprint(old.cert))

    def test_a_database_in_use_is_restored_for_its_readers(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        fresh = self.partition('fresh')
        reader = sqlite3.connect(fresh.config['registry-db'])
        self.assertEqual(reader.execute('SELECT email FROM cert').fetchall(),
                         [('node@%s' % PREFIX,)])
        reader.execute('INSERT INTO token VALUES (?, ?, 16, 0)',
                       ('fresh-token', 'x'))
        reader.commit()
        restore.restore(saved, fresh.root)
        self.assertEqual(reader.execute('SELECT token FROM token').fetchall(),
                         [])
        reader.close()

    def test_another_prefix_is_refused_unless_forced(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        other = self.partition('other', prefix='2001:db8:43::/48')
        before = other.read('srv/re6st-ca/ca.crt')
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, other.root)
        self.assertIn(PREFIX, str(e.exception))
        self.assertIn('2001:db8:43::/48', str(e.exception))
        self.assertIn('--force', str(e.exception))
        self.assertEqual(other.read('srv/re6st-ca/ca.crt'), before)
        self.assertEqual(os.listdir(other.config['directory']),
                         [directory.DEPLOYED])
        forced = restore.restore(saved, other.root, force=True)[3]
        self.assertEqual(len(forced), 1)
        self.assertEqual(other.read('srv/re6st-ca/ca.crt'),
                         old.read('srv/re6st-ca/ca.crt'))

    def test_another_key_size_is_refused(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        other = self.partition('other', key_size=4096)
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, other.root)
        self.assertIn('key-size 4096', str(e.exception))

    def test_damaged_or_incomplete_backups_are_refused(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        fresh = self.partition('fresh')
        before = fresh.read('srv/re6st-ca/ca.key')
        with open(os.path.join(saved, 'registry.db'), 'r+b') as f:
            f.seek(200)
            f.write(b'\xff')
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, fresh.root)
        self.assertIn('damaged', str(e.exception))
        os.remove(os.path.join(saved, 'manifest.json'))
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, fresh.root)
        self.assertIn('not a backup', str(e.exception))
        self.assertEqual(fresh.read('srv/re6st-ca/ca.key'), before)

    def test_command(self):
        old = self.partition('old')
        saved = snapshot.backup(old.config)
        fresh = self.partition('fresh')
        self.assertEqual(restore_cli.main(['--backup', saved,
                                           '--partition', fresh.root]), 0)
        self.assertEqual(restore_cli.main(['--backup', fresh.root,
                                           '--partition', fresh.root]), 1)
