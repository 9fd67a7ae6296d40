"""Backups, restore, log rotation and the promises of both, without SlapOS:
real sqlite databases (written to while they are copied), real CA files
made by slapos_re6st.ca, real processes receiving the signals, and the
promise plugins run by slapos.core's own promise runner."""
import ast
import datetime
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import zc.buildout
from cryptography import x509
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, TOP)

from slapos_re6st import backup, ca, promise, renew, restore, tokens  # noqa

PREFIX = '2001:db8:42::/48'


def registry_db(path, rows=()):
    """A database shaped like re6st-registry's (the tables backups care
    about), with a node certificate per row."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE IF NOT EXISTS config (name TEXT PRIMARY KEY NOT NULL,
                                           value);
        CREATE TABLE IF NOT EXISTS token (token TEXT PRIMARY KEY NOT NULL,
            email TEXT NOT NULL, prefix_len INTEGER NOT NULL,
            date INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS cert (prefix TEXT PRIMARY KEY NOT NULL,
                                         email TEXT, cert TEXT);
        CREATE TABLE IF NOT EXISTS crl (serial INTEGER PRIMARY KEY NOT NULL,
                                        date INTEGER NOT NULL);
    """)
    for prefix, email in rows:
        db.execute('INSERT INTO cert VALUES (?, ?, ?)',
                   (prefix, email, 'PEM of %s' % email))
    db.close()


def table(path, query):
    with sqlite3.connect('file:%s?mode=ro' % path, uri=True) as db:
        return db.execute(query).fetchall()


class Partition:
    """The files of a registry partition that backups deal with, and the
    configuration the backup recipe writes for it."""

    def __init__(self, root, prefix=PREFIX, keep=24, period=3600,
                 key_size=2048):
        self.root = root
        for name in 'etc', 'bin', 'var/run', 'var/log', 'srv/re6st-registry':
            os.makedirs(self.path(name), exist_ok=True)
        self.cert = ca.ensure_ca(
            self.path('srv/re6st-ca/ca.key'), self.path('srv/re6st-ca/ca.crt'),
            self.path('srv/re6st-ca/dh.pem'), 2048, prefix)
        registry_db(self.path('srv/re6st-registry/registry.db'),
                    [('0000000000000001', 'node@%s' % prefix)])
        store = tokens.Store(self.path('srv/re6st-tokens/tokens.db'))
        store.db.execute("INSERT INTO token (reference, token) VALUES"
                         " ('shared-%s', 'secret')" % os.path.basename(root))
        store.db.close()
        self.options = {
            'config-file': self.path('etc/re6st-backup.json'),
            'directory': self.path('srv/backup'),
            'registry-db': self.path('srv/re6st-registry/registry.db'),
            'tokens-db': self.path('srv/re6st-tokens/tokens.db'),
            'ca-key': self.path('srv/re6st-ca/ca.key'),
            'ca-cert': self.path('srv/re6st-ca/ca.crt'),
            'dh': self.path('srv/re6st-ca/dh.pem'),
            'ipv6-prefix': prefix, 'key-size': str(key_size),
            'period': str(period), 'keep': str(keep),
            'command': self.path('bin/re6st-backup'),
            'registry-log': self.path('var/log/re6st-registry.log'),
            'registry-pidfile': self.path('var/run/re6st-registry.pid'),
            'tokens-pidfile': self.path('var/run/re6st-token-manager.pid'),
            'log-stamp': self.path('var/run/re6st-registry-log.rotated'),
            'log-keep': '3', 'log-max-size': '1000', 'log-max-age': '86400',
        }
        self.installed = backup.Recipe(None, 'backup', self.options).install()
        self.config = backup.load_config(self.options['config-file'])

    def path(self, *names):
        return os.path.join(self.root, *names)

    def read(self, name):
        with open(self.path(name), 'rb') as f:
            return f.read()


class TempDir(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def partition(self, name='partition', **kw):
        return Partition(os.path.join(self.dir, name), **kw)

    def backups(self, partition):
        return backup.backup_names(partition.config['directory'])

    def start(self, partition, service, code='time.sleep(60)'):
        """A process standing for `service` (its command named like it, as
        re6st-service runs it), its PID in var/run/<service>.pid."""
        script = os.path.join(self.dir, service)
        with open(script, 'w') as f:
            f.write('import sys, time\nsys.path[0:0] = %r\n%s\n'
                    % (sys.path, code))
        child = subprocess.Popen([sys.executable, script])
        self.addCleanup(lambda: child.poll() is None and (
            child.kill(), child.wait()))
        with open(partition.path('var/run/%s.pid' % service), 'w') as f:
            f.write('%s\n' % child.pid)
        return child


def age(path, seconds):
    """Make a backup directory, a stamp... look `seconds` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def backup_named(partition, seconds_ago):
    """A backup directory whose name says it was made `seconds_ago`."""
    name = time.strftime(backup.TIME_FORMAT,
                         time.gmtime(time.time() - seconds_ago))
    os.makedirs(os.path.join(partition.config['directory'], name))
    return name


class TestBackup(TempDir):

    def test_one_backup_holds_everything_and_only_its_owner_reads_it(self):
        p = self.partition()
        path = backup.backup(p.config)
        self.assertEqual(self.backups(p), [os.path.basename(path)])
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
            self.assertEqual(backup.sha256(os.path.join(path, name)), digest)
        # named by its UTC time
        self.assertLess(abs(backup.backup_time(os.path.basename(path))
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
            copies = [backup.backup(p.config) for _ in range(5)]
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
        first = backup.backup(p.config)
        os.rename(p.config['tokens-db'], p.path('tokens.db.away'))
        with self.assertRaises(backup.BackupError) as e:
            backup.backup(p.config)
        self.assertIn(p.config['tokens-db'], str(e.exception))
        self.assertEqual(self.backups(p), [os.path.basename(first)])
        self.assertEqual([n for n in os.listdir(p.config['directory'])
                          if n.startswith('.partial')], [])
        status = backup.read_status(p.config['directory'])
        self.assertIn(p.config['tokens-db'], status['last-error'])
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn(p.config['tokens-db'], message)
        self.assertIn(p.config['command'], message)
        # fixed: the next backup clears the error
        os.rename(p.path('tokens.db.away'), p.config['tokens-db'])
        backup.backup(p.config)
        self.assertEqual(backup.backup_health(p.config)[0], True)
        self.assertIsNone(
            backup.read_status(p.config['directory'])['last-error'])

    def test_the_last_n_are_kept(self):
        p = self.partition(keep=3)
        before = os.path.join(p.config['directory'],
                              'before-restore-20200101T000000Z')
        os.makedirs(before)
        made = [os.path.basename(backup.backup(p.config)) for _ in range(5)]
        self.assertEqual(len(set(made)), 5)  # same second: distinct names
        self.assertEqual(self.backups(p), made[-3:])
        self.assertTrue(os.path.isdir(before))  # never removed by keep
        # fewer than keep: nothing removed
        self.assertEqual(backup.prune(p.config['directory'], 7, made[-1]),
                         [])
        self.assertEqual(self.backups(p), made[-3:])

    def test_the_new_backup_is_kept_even_if_the_clock_went_back(self):
        p = self.partition(keep=2)
        later = backup_named(p, -3600)
        made = os.path.basename(backup.backup(p.config))
        self.assertEqual(self.backups(p), [made, later])
        again = os.path.basename(backup.backup(p.config))
        self.assertEqual(self.backups(p), [again, later])

    def test_names_sort_by_time_then_counter(self):
        p = self.partition()
        directory = p.config['directory']
        for name in ('20250101T000000Z-10', '20250101T000000Z-9',
                     '20250101T000000Z', '20241231T235959Z',
                     'before-restore-20990101T000000Z', '.partial-x'):
            os.makedirs(os.path.join(directory, name))
        self.assertEqual(backup.backup_names(directory), [
            '20241231T235959Z', '20250101T000000Z', '20250101T000000Z-9',
            '20250101T000000Z-10'])

    def test_interrupted_backups_and_removals_are_cleaned(self):
        p = self.partition()
        directory = p.config['directory']
        for name in '.partial-20250101T000000Z', '.removing-20240101T000000Z':
            os.makedirs(os.path.join(directory, name, 'sub'))
        backup.backup(p.config)
        self.assertEqual(sorted(n for n in os.listdir(directory)
                                if n.startswith('.') and n != '.lock'), [])

    def test_on_demand_command(self):
        p = self.partition()
        self.assertEqual(backup.main([p.options['config-file']]), 0)
        self.assertEqual(len(self.backups(p)), 1)
        os.remove(p.config['registry-db'])
        self.assertEqual(backup.main([p.options['config-file']]), 1)
        self.assertEqual(len(self.backups(p)), 1)

    def test_the_service_backs_up_at_start(self):
        p = self.partition()
        backup.loop(p.config, iterations=1)
        self.assertEqual(len(self.backups(p)), 1)


class TestHealth(TempDir):

    def test_new_partition_has_two_periods_for_its_first_backup(self):
        p = self.partition(period=600)
        ok, message = backup.backup_health(p.config)
        self.assertTrue(ok, message)
        deployed = os.path.join(p.config['directory'], backup.DEPLOYED)
        with open(deployed, 'w') as f:
            f.write(backup.utc(time.time() - 1300) + '\n')
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-period', message)
        self.assertIn(p.config['command'], message)

    def test_the_newest_backup_must_be_younger_than_two_periods(self):
        p = self.partition(period=600)
        backup_named(p, 1500)
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-period (600 s)', message)
        backup_named(p, 1100)
        self.assertTrue(backup.backup_health(p.config)[0])

    def test_a_failed_last_attempt_fails_even_after_older_successes(self):
        p = self.partition()
        backup.backup(p.config)
        os.chmod(p.config['ca-key'], 0)
        try:
            with self.assertRaises(backup.BackupError):
                backup.backup(p.config)
        finally:
            os.chmod(p.config['ca-key'], 0o600)
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('failed', message)

    def test_no_record_of_the_deployment(self):
        p = self.partition()
        os.remove(os.path.join(p.config['directory'], backup.DEPLOYED))
        self.assertFalse(backup.backup_health(p.config)[0])


class TestRecipe(TempDir):

    def test_writes_the_configuration_and_notes_the_deployment_once(self):
        p = self.partition()
        self.assertEqual(p.installed, [p.options['config-file']])
        self.assertEqual(p.config['period'], 3600)
        self.assertEqual(p.config['key-size'], 2048)
        deployed = os.path.join(p.config['directory'], backup.DEPLOYED)
        with open(deployed) as f:
            first = f.read()
        # as slapos.cookbook:mkdirectory leaves it
        os.chmod(p.config['directory'], 0o755)
        mtime = os.stat(p.options['config-file']).st_mtime_ns
        time.sleep(1.1)
        backup.Recipe(None, 'backup', dict(p.options)).update()
        with open(deployed) as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(stat.S_IMODE(os.stat(
            p.config['directory']).st_mode), 0o700)
        self.assertEqual(os.stat(p.options['config-file']).st_mtime_ns, mtime)

    def test_missing_or_wrong_options_are_named(self):
        p = self.partition()
        options = dict(p.options)
        del options['tokens-db']
        with self.assertRaises(zc.buildout.UserError) as e:
            backup.Recipe(None, 'backup', options)
        self.assertIn('tokens-db', str(e.exception))
        options = dict(p.options, keep='0')
        with self.assertRaises(zc.buildout.UserError) as e:
            backup.Recipe(None, 'backup', options)
        self.assertIn('keep', str(e.exception))


class TestRestore(TempDir):

    def test_restore_into_a_fresh_partition(self):
        old = self.partition('old')
        saved = backup.backup(old.config)
        fresh = self.partition('fresh')
        self.assertNotEqual(ca.fingerprint(old.cert),
                            ca.fingerprint(fresh.cert))
        fresh_ca = fresh.read('srv/re6st-ca/ca.crt')
        registry = self.start(fresh, 're6st-registry')
        manager = self.start(fresh, 're6st-token-manager')
        kept, manifest, signalled, forced = restore.restore(
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
        self.assertNotIn(os.path.basename(kept), self.backups(fresh))
        # both services were told to stop (re6st-service starts them again)
        self.assertEqual(signalled, {'re6st-registry': registry.pid,
                                     're6st-token-manager': manager.pid})
        self.assertEqual(registry.wait(10), -signal.SIGTERM)
        self.assertEqual(manager.wait(10), -signal.SIGTERM)
        # the restored CA is what the next instance run finds and publishes
        self.assertEqual(
            ca.fingerprint(ca.ensure_ca(
                fresh.config['ca-key'], fresh.config['ca-cert'],
                fresh.config['dh'], 2048, PREFIX)),
            ca.fingerprint(old.cert))

    def test_a_database_in_use_is_restored_for_its_readers(self):
        old = self.partition('old')
        saved = backup.backup(old.config)
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
        saved = backup.backup(old.config)
        other = self.partition('other', prefix='2001:db8:43::/48')
        before = other.read('srv/re6st-ca/ca.crt')
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, other.root)
        self.assertIn(PREFIX, str(e.exception))
        self.assertIn('2001:db8:43::/48', str(e.exception))
        self.assertIn('--force', str(e.exception))
        self.assertEqual(other.read('srv/re6st-ca/ca.crt'), before)
        self.assertEqual(os.listdir(other.config['directory']),
                         [backup.DEPLOYED])
        _, _, _, forced = restore.restore(saved, other.root, force=True)
        self.assertEqual(len(forced), 1)
        self.assertEqual(other.read('srv/re6st-ca/ca.crt'),
                         old.read('srv/re6st-ca/ca.crt'))

    def test_another_key_size_is_refused(self):
        old = self.partition('old')
        saved = backup.backup(old.config)
        other = self.partition('other', key_size=4096)
        with self.assertRaises(restore.RestoreError) as e:
            restore.restore(saved, other.root)
        self.assertIn('key-size 4096', str(e.exception))

    def test_damaged_or_incomplete_backups_are_refused(self):
        old = self.partition('old')
        saved = backup.backup(old.config)
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
        saved = backup.backup(old.config)
        fresh = self.partition('fresh')
        self.assertEqual(restore.main(['--backup', saved,
                                       '--partition', fresh.root]), 0)
        self.assertEqual(restore.main(['--backup', fresh.root,
                                       '--partition', fresh.root]), 1)


class TestLogRotation(TempDir):

    def test_due_by_size_or_age_never_when_empty(self):
        p = self.partition()
        log, stamp = p.config['registry-log'], p.config['log-stamp']
        self.assertFalse(backup.rotation_due(log, stamp, 1000, 86400))
        open(log, 'w').close()
        self.assertFalse(backup.rotation_due(log, stamp, 1000, 86400))
        self.assertTrue(os.path.exists(stamp))  # the count starts
        with open(log, 'w') as f:
            f.write('x' * 999)
        self.assertFalse(backup.rotation_due(log, stamp, 1000, 86400))
        with open(log, 'a') as f:
            f.write('x')
        self.assertTrue(backup.rotation_due(log, stamp, 1000, 86400))
        with open(log, 'w') as f:
            f.write('a line\n')
        age(stamp, 86399)
        self.assertFalse(backup.rotation_due(log, stamp, 1000, 86400))
        age(stamp, 86401)
        self.assertTrue(backup.rotation_due(log, stamp, 1000, 86400))

    def test_the_registry_reopens_its_log_and_nothing_is_lost(self):
        """A process logging with re6st's own setupLog (as re6st-registry
        does), numbering its lines."""
        p = self.partition()
        log = p.config['registry-log']
        stop = p.path('stop')
        child = self.start(p, 're6st-registry', '''
import logging, os
from re6st.utils import setupLog
setupLog(3, %r)
n = 0
while not os.path.exists(%r):
    logging.warning('line %%s', n)
    n += 1
    time.sleep(0.005)
''' % (log, stop))

        def lines(path):
            try:
                with open(path) as f:
                    return [int(line.split()[-1]) for line in f
                            if line.endswith('\n')]
            except FileNotFoundError:
                return []

        def wait(what, check):
            deadline = time.monotonic() + 10
            while not check():
                self.assertLess(time.monotonic(), deadline, what)
                time.sleep(0.02)
        wait('first lines', lambda: len(lines(log)) > 10)
        for n in range(4):  # keep 3: the 4th rotation drops the oldest
            self.assertIsNone(backup.rotate(
                log, 3, p.config['registry-pidfile'], p.config['log-stamp']))
            wait('log reopened', lambda: len(lines(log)) > 10)
        open(stop, 'w').close()
        self.assertEqual(child.wait(10), 0)
        self.assertFalse(os.path.exists(log + '.4'))
        found = []
        for path in (log + '.3', log + '.2', log + '.1', log):
            self.assertTrue(lines(path), path)
            found += lines(path)
        self.assertEqual(found, list(range(found[0], found[0] + len(found))))

    def test_without_the_registry_the_log_is_still_rotated(self):
        p = self.partition()
        log = p.config['registry-log']
        with open(log, 'w') as f:
            f.write('old\n')
        # a PID file naming a process that is not the registry
        other = self.start(p, 'something-else')
        os.rename(p.path('var/run/something-else.pid'),
                  p.config['registry-pidfile'])
        warning = backup.rotate(log, 3, p.config['registry-pidfile'],
                                p.config['log-stamp'])
        self.assertIn(p.config['registry-pidfile'], warning)
        self.assertIsNone(other.poll())  # not signalled
        self.assertTrue(os.path.exists(log + '.1'))

    def test_the_service_rotates_when_due(self):
        p = self.partition()
        log = p.config['registry-log']
        with open(log, 'w') as f:
            f.write('x' * 2000)
        backup.loop(p.config, iterations=1)
        self.assertTrue(os.path.exists(log + '.1'))


def run_plugin(plugin_text, name, *prefix, python=None, directory=None):
    """Run one plugin the way slapos node does: slapos.core's runpromises,
    in a process of its own (by `python`, default this one), with a
    promise folder (in `directory`) holding that plugin only, so that its
    results never reach a partition's.  (exit code, its output)."""
    import slapos.grid.promise
    folder = tempfile.mkdtemp(dir=directory)
    try:
        plugins = os.path.join(folder, 'etc', 'plugin')
        os.makedirs(plugins)
        with open(os.path.join(plugins, name), 'w') as f:
            f.write(plugin_text)
        result = subprocess.run(list(prefix) + [
            python or sys.executable, os.path.join(
                os.path.dirname(slapos.grid.promise.__file__),
                'runpromises.py'),
            '--promise-folder', plugins,
            '--legacy-promise-folder', os.path.join(folder, 'etc', 'promise'),
            '--partition-folder', folder,
            '--log-folder', os.path.join(folder, 'log'), '--force'],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(folder)
    return result.returncode, result.stdout + result.stderr


class TestPromises(TempDir):

    def plugin(self, recipe, **options):
        options['output'] = os.path.join(self.dir, 'plugin.py')
        instance = recipe.__new__(recipe)
        instance.options = options
        instance.arguments = [int(options[k]) if k in recipe.NUMBERS
                              else options[k] for k in recipe.ARGUMENTS]
        instance.path = [TOP]
        self.assertEqual(instance.install(), [options['output']])
        with open(options['output']) as f:
            return f.read()

    def test_plugins_are_what_slapos_runpromises_expects(self):
        text = promise.check_plugin('backup-promise',
                                    'slapos_re6st.backup.health',
                                    ['/p/etc/re6st-backup.json'], ['/a', '/b'])
        tree = ast.parse(text)
        first = next(e for e in tree.body if isinstance(e, ast.Assign))
        self.assertEqual(ast.unparse(first.targets[0]), 'sys.path[0:0]')
        self.assertEqual(ast.literal_eval(first.value), ['/a', '/b'])

    def test_backup_promise(self):
        p = self.partition()
        text = self.plugin(promise.Backup, config=p.options['config-file'])
        code, output = run_plugin(text, 're6st-backup.py')
        self.assertEqual(code, 0, output)  # deployed just now
        os.remove(p.config['registry-db'])
        with self.assertRaises(backup.BackupError):
            backup.backup(p.config)
        code, output = run_plugin(text, 're6st-backup.py')
        self.assertNotEqual(code, 0)
        self.assertIn(p.config['registry-db'], output)

    def ca_plugin(self, p):
        return self.plugin(promise.CaLifetime, cert=p.config['ca-cert'],
                           key=p.config['ca-key'],
                           **{'renew-command': '/sr/bin/re6st-renew-ca',
                              'warn-days': '45'})

    def test_ca_lifetime_promise(self):
        p = self.partition()
        text = self.ca_plugin(p)
        code, output = run_plugin(text, 're6st-ca-lifetime.py')
        self.assertEqual(code, 0, output)
        # a certificate that ends in 40 days
        renew.renew(p.config['ca-key'], p.config['ca-cert'], days=40)
        code, output = run_plugin(text, 're6st-ca-lifetime.py')
        self.assertNotEqual(code, 0)
        with open(p.config['ca-cert'], 'rb') as f:
            end = x509.load_pem_x509_certificate(f.read()).not_valid_after_utc
        self.assertIn(end.strftime('%Y-%m-%d'), output)
        self.assertIn('/sr/bin/re6st-renew-ca --key %s --cert %s'
                      % (p.config['ca-key'], p.config['ca-cert']), output)

    @unittest.skipUnless(shutil.which('faketime'),
                         'faketime is not installed'
                         ' (apt-get install faketime)')
    def test_ca_lifetime_promise_under_faketime(self):
        p = self.partition()
        text = self.ca_plugin(p)
        end = p.cert.not_valid_after_utc
        for days, passes in (46, True), (44, False), (-1, False):
            when = (end - datetime.timedelta(days=days)).strftime(
                '%Y-%m-%d %H:%M:%S UTC')
            code, output = run_plugin(text, 're6st-ca-lifetime.py',
                                      'faketime', when)
            self.assertEqual(code == 0, passes, (days, output))
        self.assertIn('expired on %s' % end.strftime('%Y-%m-%d'), output)

    def test_the_check_itself(self):
        p = self.partition()
        ok, message = renew.ca_lifetime(p.config['ca-cert'],
                                        p.config['ca-key'], 'renew', 45)
        self.assertTrue(ok, message)
        key = serialization.load_pem_private_key(
            p.read('srv/re6st-ca/ca.key'), None)
        short = renew.renewed_certificate(key, p.cert, days=44)
        with open(p.config['ca-cert'], 'wb') as f:
            f.write(short.public_bytes(serialization.Encoding.PEM))
        ok, message = renew.ca_lifetime(p.config['ca-cert'],
                                        p.config['ca-key'], 'renew', 45)
        self.assertFalse(ok)
        self.assertIn('in 43 days', message)


if __name__ == '__main__':
    unittest.main()
