"""The files of a registry partition that backups, restores and their
checks deal with, made by the release's own code (CA, token store, backup
recipe), without SlapOS."""
import os
import sqlite3
import subprocess
import sys
import time

from slapos_re6st.backup import directory
from slapos_re6st.lib import ca, slap
from slapos_re6st.recipe.backup import Recipe as BackupRecipe
from slapos_re6st.tokens.store import Store

from . import PREFIX
from harness.tempdir import TempDir


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
    """A registry partition's files under `root`, and the configuration
    the backup recipe writes for it (self.config)."""

    def __init__(self, root, prefix=PREFIX, keep=24, period=3600,
                 key_size=2048):
        self.root = root
        for name in 'etc', 'bin', 'var/run', 'var/log', 'srv/re6st-registry':
            os.makedirs(self.path(name), exist_ok=True)
        self.cert = ca.ensure_ca(
            self.path('srv/re6st-ca/ca.key'), self.path('srv/re6st-ca/ca.crt'),
            self.path('srv/re6st-ca/dh.pem'), key_size, prefix)
        registry_db(self.path('srv/re6st-registry/registry.db'),
                    [('0000000000000001', 'node@%s' % prefix)])
        store = Store(self.path('srv/re6st-tokens/tokens.db'))
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
        self.installed = self.configure()

    def configure(self, **options):
        """Run the backup recipe with the partition's options and
        `options`; self.config: the configuration it wrote."""
        self.options.update(options)
        installed = BackupRecipe(None, 'backup', dict(self.options)).install()
        self.config = directory.load_config(self.options['config-file'])
        return installed

    def set_repository(self, url):
        """What an instance run does for backup-repository=`url`: the
        secret in the request's secrets file, the backup recipe run.
        Returns the recipe's options."""
        secrets = self.path('etc/re6st-request-secrets.json')
        slap.write_secrets(secrets, {'backup-repository': url} if url else {})
        options = dict(self.options, **{
            'repository': slap.SECRET_MARKER if url else '',
            'secrets-file': secrets,
            'repository-file': self.path('etc/re6st-backup-repository'),
            'repository-dir': self.path('srv/backup/repository.git'),
            'ssh-key': self.path('srv/re6st-backup-ssh/id_ed25519'),
            'known-hosts': self.path('srv/re6st-backup-ssh/known_hosts'),
        })
        recipe = BackupRecipe(None, 'backup', options)
        recipe.install()
        self.config = directory.load_config(options['config-file'])
        return options

    def path(self, *names):
        return os.path.join(self.root, *names)

    def read(self, name):
        with open(self.path(name), 'rb') as f:
            return f.read()

    def backups(self):
        return directory.backup_names(self.config['directory'])

    def backup_named(self, seconds_ago):
        """A backup directory whose name says it was made `seconds_ago`."""
        name = time.strftime(directory.TIME_FORMAT,
                             time.gmtime(time.time() - seconds_ago))
        os.makedirs(os.path.join(self.config['directory'], name))
        return name

    def start(self, service, code='time.sleep(60)'):
        """A process standing for `service` (its command named like it, as
        re6st-service runs it), its PID in var/run/<service>.pid; stop it
        with .kill() (the caller's cleanup)."""
        script = self.path('bin', service)
        with open(script, 'w') as f:
            f.write('import sys, time\nsys.path[0:0] = %r\n%s\n'
                    % (sys.path, code))
        child = subprocess.Popen([sys.executable, script])
        with open(self.path('var/run/%s.pid' % service), 'w') as f:
            f.write('%s\n' % child.pid)
        return child


class PartitionTestCase(TempDir):
    """Tests on partitions made in this test's directory."""

    def partition(self, name='partition', **kw):
        return Partition(os.path.join(self.dir, name), **kw)

    def start(self, partition, service, code='time.sleep(60)'):
        child = partition.start(service, code)
        self.addCleanup(lambda: child.poll() is None and (
            child.kill(), child.wait()))
        return child

    def supervise(self, partition, service, code='time.sleep(60)'):
        """`service` run as the partition runs it: under re6st-service,
        which starts it again when it exits.  The launcher's process."""
        script = partition.path('bin', service)
        with open(script, 'w') as f:
            f.write('import sys, time\nsys.path[0:0] = %r\n%s\n'
                    % (sys.path, code))
        wrapper = partition.path('etc', service + '.wrapper')
        with open(wrapper, 'w') as f:
            f.write('(the launcher only watches it here)\n')
        launcher = subprocess.Popen([
            sys.executable, '-c', 'import sys; sys.path[0:0] = %r;'
            ' from slapos_re6st.cli.service import main; sys.exit(main())'
            % sys.path, '--wrapper', wrapper, '--pidfile',
            partition.path('var/run/%s.pid' % service), '--',
            sys.executable, script])
        self.addCleanup(lambda: launcher.poll() is None and (
            launcher.terminate(), launcher.wait()))
        return launcher
