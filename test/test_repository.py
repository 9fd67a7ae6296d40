"""backup-repository without SlapOS: the backups of a partition (real CA,
real sqlite databases) pushed with the real git to real repositories: a
bare repository on disk, git's own smart HTTP server (git http-backend)
behind basic authentication on loopback, and OpenSSH's sshd on loopback
(run as the test's user) with the partition's own key."""
import base64
import http.server
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from test_backup import Partition, TempDir

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, TOP)

from slapos_re6st import backup, repository, restore, slapconfiguration  # noqa

GIT = shutil.which('git')
needs_git = unittest.skipUnless(GIT, 'git is not installed'
                                ' (apt-get install git)')


def git(*args, cwd=None):
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM='1',
               GIT_CONFIG_GLOBAL=os.devnull, LC_ALL='C')
    return subprocess.run(['git', *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def bare(path):
    git('init', '--quiet', '--bare', path)
    return path


def log_of(repo):
    """The commits of the branch main of `repo`, newest first ([] if
    none)."""
    try:
        return git('--git-dir', repo, 'rev-list', 'refs/heads/main').split()
    except subprocess.CalledProcessError:
        return []


def configure(partition, url):
    """What the backup recipe does for backup-repository=`url`, in a run
    whose slap-configuration read it."""
    options = dict(partition.options)
    options.update({
        'repository': slapconfiguration.SECRET_MARKER if url else '',
        'repository-file': partition.path('etc/re6st-backup-repository'),
        'repository-dir': partition.path('srv/backup/repository.git'),
        'ssh-key': partition.path('srv/re6st-backup-ssh/id_ed25519'),
        'known-hosts': partition.path('srv/re6st-backup-ssh/known_hosts'),
    })
    slapconfiguration.remember_secrets(None, {'backup-repository': url})
    recipe = backup.Recipe(None, 'backup', options)
    recipe.install()
    partition.config = backup.load_config(options['config-file'])
    return options


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
            remote = repository.parse(url)
            self.assertEqual((remote.kind, remote.url), (kind, given), url)
        remote = repository.parse(
            'https://oauth2:s%2Fcret@git.example.com:8443/r.git')
        self.assertEqual((remote.username, remote.password),
                         ('oauth2', 's/cret'))
        self.assertEqual(remote.shown,
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
                repository.parse(url)
            message = str(e.exception)
            self.assertIn("'backup-repository' is ", message)
            self.assertIn(words, message, url)
            self.assertNotIn('hunter2', message)


@needs_git
class TestPushToPath(TempDir):

    def setUp(self):
        super().setUp()
        self.remote = bare(os.path.join(self.dir, 'remote.git'))

    def test_each_backup_is_pushed_and_a_clone_is_a_backup(self):
        p = self.partition()
        configure(p, self.remote)
        first = backup.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 1)
        second = backup.backup(p.config)
        commits = log_of(self.remote)
        self.assertEqual(len(commits), 2)
        status = backup.read_status(p.config['directory'])
        self.assertEqual(status['last-push-commit'], commits[0])
        self.assertIsNone(status['push-error'])
        self.assertTrue(backup.backup_health(p.config)[0])

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
        options = configure(p, url)
        path = options['repository-file']
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            self.assertEqual(f.read().strip(), url)
        self.assertNotIn('hunter2', json.dumps(options))
        with open(options['config-file']) as f:
            self.assertNotIn('hunter2', f.read())
        # emptied: nothing pushed any more
        configure(p, '')
        with open(path) as f:
            self.assertEqual(f.read(), '')
        backup.backup(p.config)
        self.assertNotIn('push-error',
                         backup.read_status(p.config['directory']))

    def test_unreachable_then_fixed_by_the_retry_without_a_new_backup(self):
        p = self.partition()
        missing = os.path.join(self.dir, 'not-yet.git')
        configure(p, missing)
        path = backup.backup(p.config)  # the backup itself is done
        self.assertTrue(os.path.isdir(path))
        status = backup.read_status(p.config['directory'])
        self.assertIsNone(status['last-error'])
        self.assertIn(missing, status['push-error'])
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertIn('backup-repository', message)
        self.assertIn(missing, message)
        # the operator's command says so, and fails
        self.assertEqual(backup.main([p.options['config-file']]), 1)

        bare(missing)
        self.assertIsNone(backup.catch_up(p.config))
        self.assertEqual(len(self.backups(p)), 2)  # no new backup
        self.assertEqual(len(log_of(missing)), 2)  # both pushed
        self.assertTrue(backup.backup_health(p.config)[0])

    def test_a_repository_set_later_gets_the_newest_backup_at_once(self):
        p = self.partition()
        configure(p, '')
        backup.backup(p.config)
        newest = os.path.basename(backup.backup(p.config))
        self.assertFalse(backup.push_pending(p.config))
        configure(p, self.remote)  # the instance run with the parameter
        self.assertTrue(backup.push_pending(p.config))
        self.assertIsNone(backup.catch_up(p.config))
        self.assertFalse(backup.push_pending(p.config))
        self.assertEqual(len(self.backups(p)), 2)  # no new backup
        commits = log_of(self.remote)
        self.assertEqual(len(commits), 1)
        manifest = json.loads(git('--git-dir', self.remote, 'show',
                                  commits[0] + ':manifest.json'))
        with open(os.path.join(p.config['directory'], newest,
                               'manifest.json')) as f:
            self.assertEqual(manifest, json.load(f))
        # nothing more to do: a second catch-up commits nothing
        self.assertIsNone(backup.catch_up(p.config))
        self.assertEqual(log_of(self.remote), commits)
        # another repository: it gets the history at once
        other = bare(os.path.join(self.dir, 'other.git'))
        configure(p, other)
        self.assertTrue(backup.push_pending(p.config))
        self.assertIsNone(backup.catch_up(p.config))
        self.assertEqual(log_of(other), commits)

    def test_the_loop_retries_a_failed_push(self):
        p = self.partition()
        missing = os.path.join(self.dir, 'later.git')
        configure(p, missing)
        status = lambda: backup.read_status(  # noqa: E731
            p.config['directory'])

        def fix_once_it_failed():
            for _ in range(600):
                if status().get('push-error'):
                    bare(missing)
                    return
                time.sleep(0.05)
        fixer = threading.Thread(target=fix_once_it_failed)
        fixer.start()
        delay = backup.RETRY_DELAY
        backup.RETRY_DELAY = 0
        try:
            # the backup at start fails to push; the next turn, a second
            # later, pushes it (one backup: the period is an hour)
            backup.loop(p.config, iterations=2)
        finally:
            backup.RETRY_DELAY = delay
            fixer.join()
        self.assertIsNone(status()['push-error'])
        self.assertEqual(len(self.backups(p)), 1)
        self.assertEqual(len(log_of(missing)), 1)

    def test_another_networks_repository_is_refused(self):
        other = self.partition('other', prefix='2001:db8:43::/48')
        configure(other, self.remote)
        backup.backup(other.config)
        theirs = log_of(self.remote)

        p = self.partition()
        configure(p, self.remote)
        backup.backup(p.config)
        error = backup.read_status(p.config['directory'])['push-error']
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
        configure(p, self.remote)
        backup.backup(p.config)
        error = backup.read_status(p.config['directory'])['push-error']
        self.assertIn('no manifest.json', error)
        self.assertEqual(len(log_of(self.remote)), 1)

    def test_a_recreated_registry_continues_the_history(self):
        p = self.partition()
        configure(p, self.remote)
        backup.backup(p.config)
        backup.backup(p.config)
        before = log_of(self.remote)
        # the partition's own repository lost (a new partition restored
        # from a backup: same CA)
        shutil.rmtree(p.config['repository-dir'])
        backup.backup(p.config)
        after = log_of(self.remote)
        self.assertEqual(after[1:], before)
        self.assertIsNone(backup.read_status(
            p.config['directory'])['push-error'])


class GitHttpHandler(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol, served by git http-backend (CGI), for
    one user and password."""

    root = user = password = None
    seen = None  # every Authorization header and request line

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def serve(self):
        self.seen.append(self.requestline)
        expected = 'Basic ' + base64.b64encode(
            ('%s:%s' % (self.user, self.password)).encode()).decode()
        if self.headers.get('Authorization') != expected:
            self.send_response(401)
            self.send_header('WWW-Authenticate', 'Basic realm="git"')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if self.headers.get('Transfer-Encoding') == 'chunked':
            body = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if not size:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get('Content-Length')
                                       or 0))
        path, _, query = self.path.partition('?')
        env = dict(os.environ, GIT_PROJECT_ROOT=self.root,
                   GIT_HTTP_EXPORT_ALL='1', PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get('Content-Type', ''),
                   CONTENT_LENGTH=str(len(body)), REMOTE_USER=self.user,
                   REMOTE_ADDR=self.client_address[0],
                   GIT_CONFIG_NOSYSTEM='1', GIT_CONFIG_GLOBAL=os.devnull)
        if self.headers.get('Content-Encoding') == 'gzip':
            env['HTTP_CONTENT_ENCODING'] = 'gzip'
        out = subprocess.run(['git', 'http-backend'], input=body, env=env,
                             capture_output=True).stdout
        head, _, payload = out.partition(b'\r\n\r\n')
        status = 200
        headers = []
        for line in head.decode().split('\r\n'):
            name, _, value = line.partition(':')
            if name.lower() == 'status':
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@needs_git
class TestPushOverHttp(TempDir):
    """An https-style URL with a password: it reaches the server, and
    nothing else."""

    PASSWORD = 'hunter2-s3cr/t'

    def setUp(self):
        super().setUp()
        root = os.path.join(self.dir, 'served')
        os.makedirs(root)
        self.remote = bare(os.path.join(root, 'registry.git'))
        handler = type('Handler', (GitHttpHandler,), {
            'root': root, 'user': 'backup', 'password': self.PASSWORD,
            'seen': []})
        self.handler = handler
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.base = 'http://backup:%%s@127.0.0.1:%s/registry.git' % (
            server.server_address[1])
        # a git that records how it was run: arguments and environment
        self.calls = os.path.join(self.dir, 'git-calls')
        self.wrapper = os.path.join(self.dir, 'git')
        with open(self.wrapper, 'w') as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec %s "$@"\n'
                    % (self.calls, GIT))
        os.chmod(self.wrapper, 0o755)

    def partition_with(self, password):
        p = self.partition()
        configure(p, self.base % password.replace('/', '%2F'))
        p.config['git'] = self.wrapper
        return p

    def test_the_password_reaches_the_server_only(self):
        p = self.partition_with(self.PASSWORD)
        backup.backup(p.config)
        backup.backup(p.config)
        status = backup.read_status(p.config['directory'])
        self.assertIsNone(status['push-error'], status)
        self.assertEqual(len(log_of(self.remote)), 2)
        self.assertTrue(backup.backup_health(p.config)[0])
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
        self.assertEqual(holders, ['etc/re6st-backup-repository'])

    def test_a_wrong_password_fails_without_showing_it(self):
        p = self.partition_with('wrong-hunter2')
        backup.backup(p.config)
        status = backup.read_status(p.config['directory'])
        error = status['push-error']
        self.assertIn('Authentication failed', error)
        self.assertIn('backup:***@127.0.0.1', error)
        self.assertNotIn('hunter2', json.dumps(status))
        ok, message = backup.backup_health(p.config)
        self.assertFalse(ok)
        self.assertNotIn('hunter2', message)
        self.assertEqual(log_of(self.remote), [])


def find_sshd():
    """An sshd to run: the system's, or the one `make test` extracts from
    Debian's package into .work/sshd when the system has none."""
    for candidate in (shutil.which('sshd'), '/usr/sbin/sshd',
                      os.path.join(TOP, '.work', 'sshd', 'usr', 'sbin',
                                   'sshd')):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def sshd_unusable():
    """Why sshd cannot serve this user here, or None."""
    if not find_sshd():
        return 'sshd is not installed (make test as root provides one)'
    if not shutil.which('ssh'):
        return 'ssh is not installed (apt-get install openssh-client)'
    shell = pwd.getpwuid(os.getuid()).pw_shell
    if os.path.basename(shell) in ('nologin', 'false', ''):
        return ('sshd runs commands with the login shell of the user, and'
                ' that of this user is %s' % shell)
    return None


class Sshd:
    """OpenSSH's sshd on 127.0.0.1, run as this user (it then lets this
    user only in), with its own host key and authorized keys."""

    def __init__(self, directory, port=None):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.host_key = os.path.join(directory, 'host_key')
        if not os.path.exists(self.host_key):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '',
                            '-f', self.host_key], check=True)
        self.authorized = os.path.join(directory, 'authorized_keys')
        if port is None:
            with socket.socket() as s:
                s.bind(('127.0.0.1', 0))
                port = s.getsockname()[1]
        self.port = port
        config = os.path.join(directory, 'sshd_config')
        with open(config, 'w') as f:
            f.write('ListenAddress 127.0.0.1:%s\nHostKey %s\n'
                    'AuthorizedKeysFile %s\nStrictModes no\nUsePAM no\n'
                    'PasswordAuthentication no\nPidFile none\n'
                    % (port, self.host_key, self.authorized))
        self.process = subprocess.Popen(
            [find_sshd(), '-D', '-e', '-f', config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or \
                        self.process.poll() is not None:
                    self.stop()
                    raise AssertionError('sshd did not start')
                time.sleep(0.05)

    def authorize(self, public_key):
        with open(self.authorized, 'a') as f:
            f.write(public_key + '\n')

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(10)


@needs_git
class TestPushOverSsh(TempDir):

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
        options = configure(p, self.url)
        public = options['ssh-public-key']
        self.assertTrue(re.match(r'^ssh-ed25519 [A-Za-z0-9+/=]+ \S+$',
                                 public), public)
        # the same key on every run, for the partition's user only
        self.assertEqual(configure(p, self.url)['ssh-public-key'], public)
        self.assertEqual(stat.S_IMODE(os.stat(
            options['ssh-key']).st_mode), 0o600)

        # not allowed yet: refused, and the sentence says what to do
        backup.backup(p.config)
        error = backup.read_status(p.config['directory'])['push-error']
        self.assertIn('backup-ssh-public-key', error)
        self.assertEqual(log_of(self.remote), [])

        self.sshd.authorize(public)
        self.assertIsNone(backup.catch_up(p.config))
        backup.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 2)
        self.assertTrue(backup.backup_health(p.config)[0])
        # the host's key, known from the first connection on
        with open(self.sshd.host_key + '.pub') as f:
            host_key = f.read().split()[1]
        with open(options['known-hosts']) as f:
            self.assertIn(host_key, f.read())

    def test_a_host_whose_key_changed_is_refused(self):
        p = self.partition()
        options = configure(p, self.url)
        self.sshd.authorize(options['ssh-public-key'])
        backup.backup(p.config)
        self.assertEqual(len(log_of(self.remote)), 1)
        # another server (another host key) at the same address
        self.sshd.stop()
        impostor = Sshd(os.path.join(self.dir, 'impostor'), self.sshd.port)
        self.addCleanup(impostor.stop)
        impostor.authorize(options['ssh-public-key'])
        backup.backup(p.config)
        error = backup.read_status(p.config['directory'])['push-error']
        self.assertIn('Host key verification failed', error)
        self.assertEqual(len(log_of(self.remote)), 1)


if __name__ == '__main__':
    unittest.main()
