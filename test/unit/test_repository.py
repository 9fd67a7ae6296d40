"""backup-repository without SlapOS: the backups of a partition (real CA,
real sqlite databases) pushed with the real git to real repositories: a
bare repository on disk, git's own smart HTTP server (git http-backend)
behind basic authentication on loopback, and OpenSSH's sshd on loopback
(run as the test's user) with the partition's own key."""
import json
import os
import pwd
import re
import shutil
import stat
import threading
import time
import unittest

from slapos_re6st.backup import directory, loop, push, restore, snapshot
from slapos_re6st.cli import backup as backup_cli
from slapos_re6st.lib import remote
from slapos_re6st.promise.backup import backup_health
from harness.git import (GIT, GitHttpServer, bare, git, log_of, needs_git,
                         needs_git_http)
from harness.sshd import Sshd, sshd_unusable
from support import until
from support.partition import PartitionTestCase
from support.tarpit import Tarpit


class TestParse(unittest.TestCase):

    def test_accepted(self):
        for url, kind, given in (
                ('/srv/git/registry.git', 'path', '/srv/git/registry.git'),
                ('file:///srv/git/registry.git', 'path',
                 'file:///srv/git/registry.git'),
                ('https://git.example.com/net/registry.git', 'http',
                 'https://git.example.com/net/registry.git'),
                ('https://oauth2:s%2Fcret@git.example.com:8443/r.git', 'http',
                 'https://oauth2@git.example.com:8443/r.git'),
                ('http://bob@[::1]:8080/r.git', 'http',
                 'http://bob@[::1]:8080/r.git'),
                ('ssh://git@git.example.com:2222/net/registry.git', 'ssh',
                 'ssh://git@git.example.com:2222/net/registry.git'),
                ('git@git.example.com:net/registry.git', 'ssh',
                 'git@git.example.com:net/registry.git'),
                ('backup.example.com:registry.git', 'ssh',
                 'backup.example.com:registry.git')):
            parsed = remote.parse(url)
            self.assertEqual((parsed.kind, parsed.url), (kind, given), url)
        parsed = remote.parse(
            'https://oauth2:s%2Fcret@git.example.com:8443/r.git')
        self.assertEqual((parsed.username, parsed.password),
                         ('oauth2', 's/cret'))
        self.assertEqual(parsed.shown,
                         'https://oauth2:***@git.example.com:8443/r.git')

    def test_refused_with_a_sentence_that_never_shows_a_password(self):
        for url, words in (
                ('registry.git', 'must be an absolute path'),
                ('/srv/git/../registry.git', 'normalised'),
                ('/srv/git/my registry.git', 'without spaces'),
                ('git://git.example.com/r.git', 'cannot push'),
                ('ftp://u:hunter2@example.com/r.git', 'ftp:// is not'
                 ' supported'),
                ('https://:hunter2@example.com/r.git', 'needs a user name'),
                ('https://example.com/', 'a repository path'),
                ('https://u:hunter2@example.com/r.git?x=1', 'no ?query'),
                ('https://u:hunter2@example.com:99999/r.git', 'port'),
                ('ssh://git:hunter2@example.com/r.git', 'never with a'
                 ' password'),
                ('file://otherhost/r.git', 'on this host'),
                ('https://u:hunter2@exa mple.com/r.git', 'without spaces')):
            with self.assertRaises(ValueError, msg=url) as e:
                remote.parse(url)
            message = str(e.exception)
            self.assertIn("'backup-repository' is ", message)
            self.assertIn(words, message, url)
            self.assertNotIn('hunter2', message)


@needs_git
class TestPushToPath(PartitionTestCase):

    def setUp(self):
        super().setUp()
        self.remote = bare(os.path.join(self.dir, 'remote.git'))

    def test_each_backup_is_pushed_and_a_clone_is_a_backup(self):
        p = self.partition()
        p.set_repository(self.remote)
        first = snapshot.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 1)
        second = snapshot.backup(p.config)
        commits = log_of(self.remote)
        self.assertEqual(len(commits), 2)
        status = directory.read_status(p.config['directory'])
        self.assertEqual(status['last-push-commit'], commits[0])
        self.assertIsNone(status['push-error'])
        self.assertTrue(backup_health(p.config)[0])

        # a clone is the newest backup, which re6st-restore accepts
        clone = os.path.join(self.dir, 'clone')
        git('clone', '--quiet', '--branch', 'main', self.remote, clone)
        manifest = restore.read_backup(clone)
        with open(os.path.join(second, 'manifest.json')) as f:
            self.assertEqual(manifest, json.load(f))
        for name in manifest['files']:
            with open(os.path.join(clone, name), 'rb') as a, \
                    open(os.path.join(second, name), 'rb') as b:
                self.assertEqual(a.read(), b.read(), name)
        # and the older one is the commit before
        git('checkout', '--quiet', 'HEAD~1', cwd=clone)
        with open(os.path.join(first, 'manifest.json')) as f:
            self.assertEqual(restore.read_backup(clone), json.load(f))
        # the partition's own repository is the partition user's only
        self.assertEqual(stat.S_IMODE(os.stat(
            p.config['repository-dir']).st_mode) & 0o077, 0)

    def test_the_url_file_is_the_partition_users_and_no_option_holds_it(self):
        p = self.partition()
        url = 'https://bob:hunter2@git.example.com/r.git'
        options = p.set_repository(url)
        path = options['repository-file']
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            self.assertEqual(f.read().strip(), url)
        self.assertNotIn('hunter2', json.dumps(options))
        with open(options['config-file']) as f:
            self.assertNotIn('hunter2', f.read())
        # emptied: nothing pushed any more
        p.set_repository('')
        with open(path) as f:
            self.assertEqual(f.read(), '')
        snapshot.backup(p.config)
        self.assertNotIn('push-error',
                         directory.read_status(p.config['directory']))

    def test_unreachable_then_fixed_by_the_retry_without_a_new_backup(self):
        p = self.partition()
        missing = os.path.join(self.dir, 'not-yet.git')
        p.set_repository(missing)
        path = snapshot.backup(p.config)  # the backup itself is done
        self.assertTrue(os.path.isdir(path))
        status = directory.read_status(p.config['directory'])
        self.assertIsNone(status['last-error'])
        self.assertIn(missing, status['push-error'])
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-repository', message)
        self.assertIn(missing, message)
        # the operator's command says so, and fails
        self.assertEqual(backup_cli.main([p.options['config-file']]), 1)

        bare(missing)
        self.assertIsNone(push.catch_up(p.config))
        self.assertEqual(len(p.backups()), 2)  # no new backup
        self.assertEqual(len(log_of(missing)), 2)  # both pushed
        self.assertTrue(backup_health(p.config)[0])

    def test_a_repository_set_later_gets_the_newest_backup_at_once(self):
        p = self.partition()
        p.set_repository('')
        snapshot.backup(p.config)
        newest = os.path.basename(snapshot.backup(p.config))
        self.assertFalse(push.push_pending(p.config))
        p.set_repository(self.remote)  # the instance run with the parameter
        self.assertTrue(push.push_pending(p.config))
        self.assertIsNone(push.catch_up(p.config))
        self.assertFalse(push.push_pending(p.config))
        self.assertEqual(len(p.backups()), 2)  # no new backup
        commits = log_of(self.remote)
        self.assertEqual(len(commits), 1)
        manifest = json.loads(git('--git-dir', self.remote, 'show',
                                  commits[0] + ':manifest.json'))
        with open(os.path.join(p.config['directory'], newest,
                               'manifest.json')) as f:
            self.assertEqual(manifest, json.load(f))
        # nothing more to do: a second catch-up commits nothing
        self.assertIsNone(push.catch_up(p.config))
        self.assertEqual(log_of(self.remote), commits)
        # another repository: it gets the history at once
        other = bare(os.path.join(self.dir, 'other.git'))
        p.set_repository(other)
        self.assertTrue(push.push_pending(p.config))
        self.assertIsNone(push.catch_up(p.config))
        self.assertEqual(log_of(other), commits)

    def test_the_loop_retries_a_failed_push(self):
        p = self.partition()
        missing = os.path.join(self.dir, 'later.git')
        p.set_repository(missing)
        status = lambda: directory.read_status(  # noqa: E731
            p.config['directory'])

        def fix_once_it_failed():
            for _ in range(600):
                if status().get('push-error'):
                    bare(missing)
                    return
                time.sleep(0.05)
        fixer = threading.Thread(target=fix_once_it_failed)
        fixer.start()
        try:
            # the backup at start fails to push; the next turn, a second
            # later, pushes it (one backup: the period is an hour)
            loop.loop(p.config, iterations=2, retry_delay=0)
        finally:
            fixer.join()
        self.assertIsNone(status()['push-error'])
        self.assertEqual(len(p.backups()), 1)
        self.assertEqual(len(log_of(missing)), 1)

    def test_another_networks_repository_is_refused(self):
        other = self.partition('other', prefix='2001:db8:43::/48')
        other.set_repository(self.remote)
        snapshot.backup(other.config)
        theirs = log_of(self.remote)

        p = self.partition()
        p.set_repository(self.remote)
        snapshot.backup(p.config)
        error = directory.read_status(p.config['directory'])['push-error']
        self.assertIn('another network', error)
        self.assertIn('2001:db8:43::/48', error)
        self.assertEqual(log_of(self.remote), theirs)  # untouched

    def test_something_else_than_backups_is_refused(self):
        work = os.path.join(self.dir, 'work')
        git('init', '--quiet', '-b', 'main', work)
        with open(os.path.join(work, 'README'), 'w') as f:
            f.write('hello\n')
        git('add', 'README', cwd=work)
        git('-c', 'user.name=x', '-c', 'user.email=x@example.com', 'commit',
            '--quiet', '-m', 'readme', cwd=work)
        git('push', '--quiet', self.remote, 'main', cwd=work)
        p = self.partition()
        p.set_repository(self.remote)
        snapshot.backup(p.config)
        error = directory.read_status(p.config['directory'])['push-error']
        self.assertIn('no manifest.json', error)
        self.assertEqual(len(log_of(self.remote)), 1)

    def test_a_recreated_registry_continues_the_history(self):
        p = self.partition()
        p.set_repository(self.remote)
        snapshot.backup(p.config)
        snapshot.backup(p.config)
        before = log_of(self.remote)
        # the partition's own repository lost (a new partition restored
        # from a backup: same CA)
        shutil.rmtree(p.config['repository-dir'])
        snapshot.backup(p.config)
        after = log_of(self.remote)
        self.assertEqual(after[1:], before)
        self.assertIsNone(directory.read_status(
            p.config['directory'])['push-error'])


@needs_git_http
class TestPushOverHttp(PartitionTestCase):
    """An https-style URL with a password: it reaches the server, and
    nothing else (git's http-backend behind lighttpd)."""

    PASSWORD = 'hunter2-s3cr/t'

    def setUp(self):
        super().setUp()
        root = os.path.join(self.dir, 'served')
        os.makedirs(root)
        self.remote = bare(os.path.join(root, 'registry.git'))
        server = GitHttpServer(root, 'backup', self.PASSWORD,
                               os.path.join(self.dir, 'lighttpd'))
        self.addCleanup(server.stop)
        self.base = server.url_with('backup', '%s', 'registry.git')
        # a git that records how it was run: arguments and environment
        self.calls = os.path.join(self.dir, 'git-calls')
        self.wrapper = os.path.join(self.dir, 'git')
        with open(self.wrapper, 'w') as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n'
                    % (self.calls, GIT))
        os.chmod(self.wrapper, 0o755)

    def partition_with(self, password):
        p = self.partition()
        p.set_repository(self.base % password.replace('/', '%2F'))
        p.config['git'] = self.wrapper
        return p

    def test_the_password_reaches_the_server_only(self):
        p = self.partition_with(self.PASSWORD)
        snapshot.backup(p.config)
        snapshot.backup(p.config)
        status = directory.read_status(p.config['directory'])
        self.assertIsNone(status['push-error'], status)
        self.assertEqual(len(log_of(self.remote)), 2)
        self.assertTrue(backup_health(p.config)[0])
        with open(self.calls) as f:
            calls = f.read()
        self.assertIn('push', calls)
        self.assertNotIn(self.PASSWORD, calls)  # no command line has it
        self.assertNotIn('hunter2', calls)
        # in the partition, only the 0600 URL file holds it
        holders = []
        for top, _, names in os.walk(p.root):
            for name in names:
                path = os.path.join(top, name)
                with open(path, 'rb') as f:
                    if b'hunter2' in f.read():
                        holders.append(os.path.relpath(path, p.root))
        self.assertEqual(sorted(holders), ['etc/re6st-backup-repository',
                                           'etc/re6st-request-secrets.json'])

    def test_a_wrong_password_fails_without_showing_it(self):
        p = self.partition_with('wrong-hunter2')
        snapshot.backup(p.config)
        status = directory.read_status(p.config['directory'])
        error = status['push-error']
        self.assertIn('Authentication failed', error)
        self.assertIn('backup:***@127.0.0.1', error)
        self.assertNotIn('hunter2', json.dumps(status))
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertNotIn('hunter2', message)
        self.assertEqual(log_of(self.remote), [])


@needs_git
class TestPushOverSsh(PartitionTestCase):

    def setUp(self):
        super().setUp()
        why = sshd_unusable()
        if why:
            self.skipTest(why)
        self.remote = bare(os.path.join(self.dir, 'remote.git'))
        self.sshd = Sshd(os.path.join(self.dir, 'sshd'))
        self.addCleanup(self.sshd.stop)
        self.url = 'ssh://%s@127.0.0.1:%s%s' % (
            pwd.getpwuid(os.getuid()).pw_name, self.sshd.port, self.remote)

    def test_the_partitions_key_once_allowed_pushes(self):
        p = self.partition()
        options = p.set_repository(self.url)
        public = options['ssh-public-key']
        self.assertTrue(re.match(r'^ssh-ed25519 [A-Za-z0-9+/=]+ \S+$',
                                 public), public)
        # the same key on every run, for the partition's user only
        self.assertEqual(p.set_repository(self.url)['ssh-public-key'], public)
        self.assertEqual(stat.S_IMODE(os.stat(
            options['ssh-key']).st_mode), 0o600)

        # not allowed yet: refused, and the sentence says what to do
        snapshot.backup(p.config)
        error = directory.read_status(p.config['directory'])['push-error']
        self.assertIn('backup-ssh-public-key', error)
        self.assertEqual(log_of(self.remote), [])

        self.sshd.authorize(public)
        self.assertIsNone(push.catch_up(p.config))
        snapshot.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 2)
        self.assertTrue(backup_health(p.config)[0])
        # the host's key, known from the first connection on
        with open(self.sshd.host_key + '.pub') as f:
            host_key = f.read().split()[1]
        with open(options['known-hosts']) as f:
            self.assertIn(host_key, f.read())

    def test_a_host_whose_key_changed_is_refused(self):
        p = self.partition()
        options = p.set_repository(self.url)
        self.sshd.authorize(options['ssh-public-key'])
        snapshot.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 1)
        # another server (another host key) at the same address
        self.sshd.stop()
        impostor = Sshd(os.path.join(self.dir, 'impostor'), self.sshd.port)
        self.addCleanup(impostor.stop)
        impostor.authorize(options['ssh-public-key'])
        snapshot.backup(p.config)
        error = directory.read_status(p.config['directory'])['push-error']
        self.assertIn('Host key verification failed', error)
        self.assertEqual(len(log_of(self.remote)), 1)


@needs_git
class TestStalledRemote(PartitionTestCase):
    """backup-repository on a server that accepts and never answers, or
    answers a byte a second, over http and ssh: the transfer ends once it
    stalled `stall-time` seconds (60 in a partition, 2 here), with a
    sentence in the status and the promise; local backups go on meanwhile.
    (Issue 19, point 5: git ls-remote hung until the server went away,
    and no backup was made meanwhile.)"""

    STALL = 2

    def stalled(self, kind, drip=None):
        """A partition whose backup-repository is a tarpit."""
        tarpit = Tarpit(drip)
        self.addCleanup(tarpit.close)
        p = self.partition()
        if kind == 'http':
            p.set_repository('http://127.0.0.1:%s/backups.git'
                             % tarpit.port)
        else:
            p.set_repository('ssh://backup@127.0.0.1:%s/backups.git'
                             % tarpit.port)
        p.config['stall-time'] = self.STALL
        return p

    def assertEnds(self, p):
        """A backup with its push ends within a few stall times, the push
        failed with a sentence naming the repository."""
        done = []
        worker = threading.Thread(
            target=lambda: done.append(snapshot.backup(p.config)),
            daemon=True)
        start = time.monotonic()
        worker.start()
        worker.join(10 * self.STALL)
        self.assertTrue(done, 'the push still runs after %s s'
                        % (10 * self.STALL))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, self.STALL / 2 * 0.9)  # it stalled
        status = directory.read_status(p.config['directory'])
        self.assertIn('127.0.0.1', status['push-error'])
        self.assertIsNone(status['push-started'])
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-repository', message)
        self.assertEqual(len(p.backups()), 1)

    def test_http_never_answers(self):
        self.assertEnds(self.stalled('http'))

    def test_http_a_byte_a_second(self):
        self.assertEnds(self.stalled('http', b'HTTP/1.1 200 OK\r\nX-Slow: '))

    def test_ssh_never_answers(self):
        self.assertEnds(self.stalled('ssh'))

    def test_ssh_a_byte_a_second(self):
        self.assertEnds(self.stalled('ssh', b'SSH-2.0-OpenSSH_9.2\r\n'))

    def test_backups_go_on_while_a_push_stalls(self):
        """The service's loop, a backup a second: they are made on time
        while the push hangs; the push shows in the status and the
        promise while it runs, then its failure."""
        p = self.stalled('http')
        p.config['stall-time'] = 4
        p.config['period'] = 1
        seen = []

        def watch():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not seen:
                status = directory.read_status(p.config['directory'])
                if status.get('push-started'):
                    seen.append((status, backup_health(p.config),
                                 len(p.backups())))
                time.sleep(0.1)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        runner = threading.Thread(target=loop.loop, args=(p.config,),
                                  kwargs={'iterations': 4}, daemon=True)
        start = time.monotonic()
        runner.start()
        # 4 backups a second apart, whatever the push does
        self.assertTrue(until('4 backups', lambda: len(p.backups()) >= 4,
                              8, 0.1))
        self.assertLess(time.monotonic() - start, 6)
        watcher.join()
        status, (ok, message), _ = seen[0]
        self.assertTrue(ok, message)
        self.assertIn('in progress', message)
        self.assertIn('127.0.0.1', message)
        runner.join(30)
        self.assertFalse(runner.is_alive())
        status = directory.read_status(p.config['directory'])
        self.assertIsNone(status['push-started'])
        self.assertIn('127.0.0.1', status['push-error'])
        ok, message = backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-repository', message)
