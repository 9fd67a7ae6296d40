"""Backups without SlapOS: real sqlite databases (written to while they
are copied), real CA files, keep-N, status, the health the promise checks,
the backup recipe."""
import json
import os
import sqlite3
import stat
import threading
import time

import zc.buildout

from slapos_re6st.backup import directory, loop, push, snapshot
from slapos_re6st.backup.directory import BackupError
from slapos_re6st.cli import backup as backup_cli
from slapos_re6st.lib import ca, files
from slapos_re6st.promise.backup import backup_health
from slapos_re6st.recipe.backup import Recipe as BackupRecipe
from support import PREFIX
from support.partition import PartitionTestCase, table


class TestBackup(PartitionTestCase):

    def test_one_backup_holds_everything_and_only_its_owner_reads_it(self):
        p = self.partition()
        path = snapshot.backup(p.config)
        self.assertEqual(p.backups(), [os.path.basename(path)])
        self.assertEqual(sorted(os.listdir(path)), [
            'ca.crt', 'ca.key', 'dh.pem', 'manifest.json', 'registry.db',
            'tokens.db'])
        for name in 'ca.key', 'ca.crt', 'dh.pem':
            with open(os.path.join(path, name), 'rb') as f:
                self.assertEqual(f.read(), p.read('srv/re6st-ca/' + name))
        mode = lambda name: stat.S_IMODE(os.stat(  # noqa: E731
            os.path.join(path, name)).st_mode)
        self.assertEqual(mode('ca.key'), 0o600)
        self.assertEqual(mode('.'), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(
            p.config['directory']).st_mode), 0o700)
        self.assertEqual(
            table(os.path.join(path, 'registry.db'), 'SELECT email FROM cert'),
            [('node@%s' % PREFIX,)])
        self.assertEqual(
            table(os.path.join(path, 'tokens.db'), 'SELECT token FROM token'),
            [('secret',)])
        with open(os.path.join(path, 'manifest.json')) as f:
            manifest = json.load(f)
        self.assertEqual(manifest['ca-fingerprint'], ca.fingerprint(p.cert))
        self.assertEqual(manifest['ipv6-prefix'], PREFIX)
        for name, digest in manifest['files'].items():
            self.assertEqual(files.sha256(os.path.join(path, name)), digest)
        # named by its UTC time
        self.assertLess(abs(directory.backup_time(os.path.basename(path))
                            - time.time()), 5)

    def test_a_database_being_written_is_copied_consistently(self):
        p = self.partition()
        path = p.config['registry-db']
        stop = threading.Event()
        written = []

        def write():
            db = sqlite3.connect(path, isolation_level=None, timeout=60)
            n = 0
            while not stop.is_set():
                # two rows that only exist together
                db.execute('BEGIN IMMEDIATE')
                db.execute('INSERT INTO crl VALUES (?, 0)', (2 * n,))
                db.execute('INSERT INTO crl VALUES (?, 0)', (2 * n + 1,))
                db.execute('COMMIT')
                n += 1
                written.append(n)
            db.close()
        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(written) < 50:
                time.sleep(0.01)
            copies = [snapshot.backup(p.config) for _ in range(5)]
        finally:
            stop.set()
            writer.join()
        for copy in copies:
            count, = table(os.path.join(copy, 'registry.db'),
                           'SELECT count(*) FROM crl')[0]
            self.assertEqual(count % 2, 0, copy)
            self.assertGreater(count, 0)
            self.assertEqual(table(os.path.join(copy, 'registry.db'),
                                   'PRAGMA integrity_check'), [('ok',)])

    def test_a_failed_backup_leaves_no_backup_and_is_recorded(self):
        p = self.partition()
        first = snapshot.backup(p.config)
        os.rename(p.config['tokens-db'], p.path('tokens.db.away'))
        with self.assertRaises(BackupError) as e:
            snapshot.backup(p.config)
        self.assertIn(p.config['tokens-db'], str(e.exception))
        self.assertEqual(p.backups(), [os.path.basename(first)])
        self.assertEqual([n for n in os.listdir(p.config['directory'])
                          if n.startswith('.partial')], [])
        status = directory.read_status(p.config['directory'])
        self.assertIn(p.config['tokens-db'], status['last-error'])
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn(p.config['tokens-db'], message)
        self.assertIn(p.config['command'], message)
        # fixed: the next backup clears the error
        os.rename(p.path('tokens.db.away'), p.config['tokens-db'])
        snapshot.backup(p.config)
        self.assertEqual(backup_health(p.config)[0], True)
        self.assertIsNone(
            directory.read_status(p.config['directory'])['last-error'])

    def test_the_last_n_are_kept(self):
        p = self.partition(keep=3)
        before = os.path.join(p.config['directory'],
                              'before-restore-20200101T000000Z')
        os.makedirs(before)
        made = [os.path.basename(snapshot.backup(p.config)) for _ in range(5)]
        self.assertEqual(len(set(made)), 5)  # same second: distinct names
        self.assertEqual(p.backups(), made[-3:])
        self.assertTrue(os.path.isdir(before))  # never removed by keep
        # fewer than keep: nothing removed
        self.assertEqual(snapshot.prune(p.config['directory'], 7, made[-1]),
                         [])
        self.assertEqual(p.backups(), made[-3:])

    def test_the_new_backup_is_kept_even_if_the_clock_went_back(self):
        p = self.partition(keep=2)
        later = p.backup_named(-3600)
        made = os.path.basename(snapshot.backup(p.config))
        self.assertEqual(p.backups(), [made, later])
        again = os.path.basename(snapshot.backup(p.config))
        self.assertEqual(p.backups(), [again, later])

    def test_names_sort_by_time_then_counter(self):
        p = self.partition()
        where = p.config['directory']
        for name in ('20250101T000000Z-10', '20250101T000000Z-9',
                     '20250101T000000Z', '20241231T235959Z',
                     'before-restore-20990101T000000Z', '.partial-x'):
            os.makedirs(os.path.join(where, name))
        self.assertEqual(directory.backup_names(where), [
            '20241231T235959Z', '20250101T000000Z', '20250101T000000Z-9',
            '20250101T000000Z-10'])

    def test_interrupted_backups_and_removals_are_cleaned(self):
        p = self.partition()
        where = p.config['directory']
        for name in '.partial-20250101T000000Z', '.removing-20240101T000000Z':
            os.makedirs(os.path.join(where, name, 'sub'))
        snapshot.backup(p.config)
        self.assertEqual(sorted(n for n in os.listdir(where)
                                if n.startswith('.') and n not in (
                                    '.lock', push.PUSH_LOCK)), [])

    def test_on_demand_command(self):
        p = self.partition()
        self.assertEqual(backup_cli.main([p.options['config-file']]), 0)
        self.assertEqual(len(p.backups()), 1)
        os.remove(p.config['registry-db'])
        self.assertEqual(backup_cli.main([p.options['config-file']]), 1)
        self.assertEqual(len(p.backups()), 1)

    def test_the_service_backs_up_at_start(self):
        p = self.partition()
        loop.loop(p.config, iterations=1)
        self.assertEqual(len(p.backups()), 1)

    def test_a_restarted_service_waits_for_the_period(self):
        """A service started again and again (a crash loop) must not push
        the kept backups out with new ones."""
        p = self.partition(keep=2)
        first = snapshot.backup(p.config)
        for _ in range(3):
            loop.loop(p.config, iterations=1)
        self.assertEqual(p.backups(), [os.path.basename(first)])
        # but after a failed attempt, or once a period old: at once
        os.chmod(p.config['ca-key'], 0)
        with self.assertRaises(BackupError):
            snapshot.backup(p.config)
        os.chmod(p.config['ca-key'], 0o600)
        loop.loop(p.config, iterations=1)
        self.assertEqual(len(p.backups()), 2)
        old = p.backup_named(4000)
        for name in p.backups():
            if name != old:
                os.rename(os.path.join(p.config['directory'], name),
                          os.path.join(p.config['directory'], '.x' + name))
        loop.loop(p.config, iterations=1)
        self.assertEqual(len(p.backups()), 2)


class TestHealth(PartitionTestCase):

    def test_new_partition_has_two_periods_for_its_first_backup(self):
        p = self.partition(period=600)
        ok, message = backup_health(p.config)
        self.assertTrue(ok, message)
        deployed = os.path.join(p.config['directory'], directory.DEPLOYED)
        with open(deployed, 'w') as f:
            f.write(directory.utc(time.time() - 1300) + '\n')
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-period', message)
        self.assertIn(p.config['command'], message)

    def test_the_newest_backup_must_be_younger_than_two_periods(self):
        p = self.partition(period=600)
        p.backup_named(1500)
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-period (600 s)', message)
        p.backup_named(1100)
        self.assertTrue(backup_health(p.config)[0])

    def test_a_failed_last_attempt_fails_even_after_older_successes(self):
        p = self.partition()
        snapshot.backup(p.config)
        os.chmod(p.config['ca-key'], 0)
        try:
            with self.assertRaises(BackupError):
                snapshot.backup(p.config)
        finally:
            os.chmod(p.config['ca-key'], 0o600)
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('failed', message)

    def test_no_record_of_the_deployment(self):
        p = self.partition()
        os.remove(os.path.join(p.config['directory'], directory.DEPLOYED))
        self.assertFalse(backup_health(p.config)[0])


class TestRecipe(PartitionTestCase):

    def test_writes_the_configuration_and_notes_the_deployment_once(self):
        p = self.partition()
        self.assertEqual(p.installed, [p.options['config-file']])
        self.assertEqual(p.config['period'], 3600)
        self.assertEqual(p.config['key-size'], 2048)
        deployed = os.path.join(p.config['directory'], directory.DEPLOYED)
        with open(deployed) as f:
            first = f.read()
        # as slapos.cookbook:mkdirectory leaves it
        os.chmod(p.config['directory'], 0o755)
        mtime = os.stat(p.options['config-file']).st_mtime_ns
        time.sleep(1.1)
        BackupRecipe(None, 'backup', dict(p.options)).update()
        with open(deployed) as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(stat.S_IMODE(os.stat(
            p.config['directory']).st_mode), 0o700)
        self.assertEqual(os.stat(p.options['config-file']).st_mtime_ns, mtime)

    def test_made_by_buildout_it_writes_nothing(self):
        """Its ssh key, public key and configuration come with install():
        buildout makes every recipe of a run, also those it will not
        install."""
        p = self.partition()
        options = dict(p.options, **{
            'ssh-key': p.path('srv/re6st-backup-ssh/id_ed25519'),
            'config-file': p.path('etc/re6st-backup.json.new')})
        before = self.files()
        recipe = BackupRecipe(None, 'backup', options)
        public = options['ssh-public-key']
        self.assertEqual(self.files(), before)
        recipe.install()
        with open(options['ssh-key'] + '.pub') as f:
            self.assertEqual(f.read(), public + '\n')
        again = dict(options)
        BackupRecipe(None, 'backup', again).update()
        self.assertEqual(again['ssh-public-key'], public)

    def test_missing_or_wrong_options_are_named(self):
        p = self.partition()
        options = dict(p.options)
        del options['tokens-db']
        with self.assertRaises(zc.buildout.UserError) as e:
            BackupRecipe(None, 'backup', options)
        self.assertIn('tokens-db', str(e.exception))
        options = dict(p.options, keep='0')
        with self.assertRaises(zc.buildout.UserError) as e:
            BackupRecipe(None, 'backup', options)
        self.assertIn('keep', str(e.exception))
