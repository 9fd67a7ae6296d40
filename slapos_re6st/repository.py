"""Each backup pushed to the git repository of `backup-repository`.

Every backup of re6st-backup becomes a commit of the branch main of a bare
repository of the partition (srv/backup/repository.git): the backup's files
at the top (registry.db, tokens.db, ca.key, ca.crt, dh.pem, manifest.json),
so that a clone of the remote is itself a backup that re6st-restore takes.
The branch is then pushed to backup-repository, never forced.

When the remote's branch has commits this partition lacks (a registry
restored or re-created from the same CA pushes to the repository of its
previous life), the newest backup is committed on top of them, so the
remote's history is continued, not replaced.  The remote's newest backup
must be of the same CA: a repository holding another network's backups,
or anything else, is refused with a sentence.

backup-repository, one of:
  /path/to/repository.git, file:///path/to/repository.git
                                  a repository on this host
  https://[USER[:PASSWORD]@]HOST[:PORT]/PATH (or http://)
  ssh://[USER@]HOST[:PORT]/PATH, [USER@]HOST:PATH
                                  with the partition's own ssh key
                                  (published as backup-ssh-public-key)

Secrets: a password in an http(s) URL never reaches a command line, a log,
a status file nor the repository's configuration.  git is given the URL
without it and gets it from GIT_ASKPASS, a script of the partition that
answers from that git process's environment.  git never reads the user's
or the system's configuration (no credential helper can store it) and
never prompts.  ssh runs in batch mode with the partition's key and known
hosts (a new host is accepted once, then must not change).

This module imports nothing but the standard library at its top (the
promise plugin imports backup.py, which imports it).
"""
import json
import os
import re
import shlex
import socket
import subprocess
import urllib.parse

BRANCH = 'refs/heads/main'
# Where the remote's branch is fetched to when it is ahead.
FETCHED = 'refs/re6st/remote-main'
INDEX = 're6st-index'
ASKPASS = 're6st-askpass'
ASKPASS_SCRIPT = '''\
#!/bin/sh
# Written by re6st-backup: answers git's questions from its environment.
case "$1" in
Username*) printf '%s\\n' "$RE6ST_BACKUP_GIT_USERNAME" ;;
*) printf '%s\\n' "$RE6ST_BACKUP_GIT_PASSWORD" ;;
esac
'''
# Seconds a git command may take (a push of a large first history).
TIMEOUT = 900
SCHEME = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*)://')
# git's scp-like syntax: [user@]host:path, the colon before any slash.
SCP_LIKE = re.compile(r'^(?:([^@/\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+)'
                      r':(?!//)(.+)$')
WHAT = ('an absolute path or file:// URL of a git repository on this host,'
        ' an https:// (or http://) URL, or an ssh URL (ssh://[USER@]HOST/PATH'
        ' or [USER@]HOST:PATH)')
HIDDEN_PASSWORD = '***'


class RepositoryError(Exception):
    """What went wrong with backup-repository, as a sentence."""


class Remote:
    """A parsed backup-repository: kind ('path', 'http', 'ssh'), url (what
    git is given: never with a password), username, password, shown (for
    sentences: the value with its password replaced by ***)."""

    def __init__(self, kind, value, url=None, username=None, password=None):
        self.kind = kind
        self.url = value if url is None else url
        self.username = username
        self.password = password
        self.shown = redact(value)


def redact(url):
    """`url` with the password of an http(s) URL replaced by ***, for
    sentences (what parse refuses is redacted as well as can be)."""
    match = SCHEME.match(url)
    if not match:
        return url
    scheme_end = match.end()
    rest = url[scheme_end:]
    netloc = rest.split('/', 1)[0]
    if '@' not in netloc:
        return url
    userinfo, _, host = netloc.rpartition('@')
    if ':' not in userinfo:
        return url
    user = userinfo.split(':', 1)[0]
    return (url[:scheme_end] + '%s:%s@%s' % (user, HIDDEN_PASSWORD, host)
            + rest[len(netloc):])


def parse(value):
    """The Remote of a backup-repository value; ValueError with a sentence
    naming what is wrong and what is allowed."""
    shown = json.dumps(redact(value))
    if not value or re.search(r'[\s\x00-\x1f\x7f]', value):
        raise ValueError("'backup-repository' is %s but must be %s, without"
                         ' spaces or control characters.' % (shown, WHAT))
    if value.startswith('/'):
        if os.path.normpath(value) != value.rstrip('/'):
            raise ValueError("'backup-repository' is %s but a path must be"
                             ' absolute and normalised, like %s.'
                             % (shown, json.dumps(os.path.normpath(value))))
        return Remote('path', value)
    match = SCHEME.match(value)
    if match:
        scheme = match.group(1).lower()
        split = urllib.parse.urlsplit(value)
        try:
            split.port
        except ValueError:
            raise ValueError("'backup-repository' is %s but its port is not"
                             ' a number from 1 to 65535.' % shown)
        if scheme == 'file':
            if split.netloc not in ('', 'localhost') or not split.path:
                raise ValueError("'backup-repository' is %s but a file URL"
                                 ' must name an absolute path on this host,'
                                 ' like file:///srv/git/registry.git.'
                                 % shown)
            return Remote('path', value)
        if scheme in ('http', 'https'):
            if not split.hostname or split.path in ('', '/'):
                raise ValueError("'backup-repository' is %s but an %s URL"
                                 ' must name a host and a repository path,'
                                 ' like %s://git.example.com/registry.git.'
                                 % (shown, scheme, scheme))
            if split.query or split.fragment:
                raise ValueError("'backup-repository' is %s but git URLs"
                                 ' have no ?query nor #fragment: remove'
                                 ' them.' % shown)
            username = password = None
            netloc = split.netloc
            if '@' in netloc:
                userinfo, _, host = netloc.rpartition('@')
                user, colon, secret = userinfo.partition(':')
                username = urllib.parse.unquote(user) or None
                password = urllib.parse.unquote(secret) if colon else None
                if password == '':
                    password = None
                netloc = ('%s@%s' % (user, host)) if user else host
                if password and not username:
                    raise ValueError(
                        "'backup-repository' is %s: a password needs a user"
                        ' name before it (https://USER:PASSWORD@HOST/PATH;'
                        ' with a token, the user name your git hosting'
                        ' asks for, like oauth2).' % shown)
            url = urllib.parse.urlunsplit(split._replace(netloc=netloc))
            return Remote('http', value, url, username, password)
        if scheme in ('ssh', 'git+ssh', 'ssh+git'):
            if not split.hostname or split.path in ('', '/'):
                raise ValueError("'backup-repository' is %s but an ssh URL"
                                 ' must name a host and a repository path,'
                                 ' like ssh://git@git.example.com/registry.git.'
                                 % shown)
            if split.password is not None:
                raise ValueError(
                    "'backup-repository' is %s but ssh logs in with the"
                    " partition's key (backup-ssh-public-key), never with a"
                    " password: remove ':PASSWORD' from the URL." % shown)
            return Remote('ssh', value)
        if scheme == 'git':
            raise ValueError("'backup-repository' is %s but the git://"
                             ' protocol cannot push: use the ssh or https'
                             ' URL of the same repository.' % shown)
        raise ValueError("'backup-repository' is %s but %s:// is not"
                         ' supported: it must be %s.' % (shown, scheme, WHAT))
    if SCP_LIKE.match(value):
        return Remote('ssh', value)
    raise ValueError("'backup-repository' is %s but must be %s."
                     % (shown, WHAT))


def read_url(path):
    """The backup-repository written by the backup recipe into `path`
    ('' when there is none)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ''


# -- the partition's ssh key --------------------------------------------------

def ensure_ssh_key(path, comment):
    """The OpenSSH public key line of the partition's ssh key at `path`
    (created once, Ed25519, mode 0600; `path`.pub next to it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from .ca import write_new
    from .registry import write_if_changed
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        write_new(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption()),
                  0o600)
    with open(path, 'rb') as f:
        key = serialization.load_ssh_private_key(f.read(), None)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode()
    line = '%s %s' % (public, comment)
    write_if_changed(path + '.pub', line + '\n')
    return line


# -- the repository -----------------------------------------------------------

class Repository:
    """The partition's bare repository at `git_dir`, pushing to `remote`
    (a Remote, or None: record only)."""

    def __init__(self, git_dir, remote=None, git='git', ssh_key=None,
                 known_hosts=None, timeout=TIMEOUT):
        self.git_dir = git_dir
        self.remote = remote
        self.git = git
        self.ssh_key = ssh_key
        self.known_hosts = known_hosts
        self.timeout = timeout

    # -- running git

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(('GIT_', 'SSH_ASKPASS', 'RE6ST_BACKUP_'))}
        env.update({
            'GIT_DIR': self.git_dir,
            # no configuration but the repository's: no credential helper
            # may store a password, no url.insteadOf may redirect
            'GIT_CONFIG_NOSYSTEM': '1',
            'GIT_CONFIG_GLOBAL': os.devnull,
            'GIT_TERMINAL_PROMPT': '0',
            'GIT_AUTHOR_NAME': 're6st-backup',
            'GIT_AUTHOR_EMAIL': 're6st-backup@%s' % socket.gethostname(),
            'LC_ALL': 'C',
        })
        env['GIT_COMMITTER_NAME'] = env['GIT_AUTHOR_NAME']
        env['GIT_COMMITTER_EMAIL'] = env['GIT_AUTHOR_EMAIL']
        remote = self.remote
        if remote is not None and remote.kind == 'http':
            env['GIT_ASKPASS'] = os.path.join(self.git_dir, ASKPASS)
            env['RE6ST_BACKUP_GIT_USERNAME'] = remote.username or ''
            env['RE6ST_BACKUP_GIT_PASSWORD'] = remote.password or ''
        if remote is not None and remote.kind == 'ssh':
            command = ['ssh', '-o', 'BatchMode=yes',
                       '-o', 'StrictHostKeyChecking=accept-new',
                       '-o', 'ConnectTimeout=30']
            if self.ssh_key:
                command += ['-i', self.ssh_key, '-o', 'IdentitiesOnly=yes']
            if self.known_hosts:
                command += ['-o', 'UserKnownHostsFile=' + self.known_hosts]
            env['GIT_SSH_COMMAND'] = ' '.join(map(shlex.quote, command))
        return env

    def run(self, *args, cwd=None, env=None, check=True):
        """git `args`: its standard output, stripped.  RepositoryError with
        git's own message (never a password) when it fails."""
        try:
            result = subprocess.run(
                [self.git, '-c', 'credential.helper=', '-c',
                 'core.askPass=', *args],
                cwd=cwd, env=dict(self.env(), **(env or {})),
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise RepositoryError('git %s took more than %s s: is %s'
                                  ' reachable?' % (args[0], self.timeout,
                                                   self.shown()))
        except OSError as e:
            raise RepositoryError('git cannot run (%s): install git (Debian:'
                                  ' apt-get install git).' % e)
        if check and result.returncode:
            raise RepositoryError('git %s failed: %s' % (
                args[0], self.clean(result.stderr or result.stdout)))
        return result.stdout.strip() if check else result

    def clean(self, text):
        """git's message on one line, any password replaced by ***."""
        text = ' '.join(text.split())
        remote = self.remote
        if remote is not None and remote.password:
            text = text.replace(remote.password, HIDDEN_PASSWORD)
            quoted = urllib.parse.quote(remote.password, safe='')
            text = text.replace(quoted, HIDDEN_PASSWORD)
        return text.rstrip('.') + '.'

    def shown(self):
        return self.remote.shown if self.remote is not None else '(none)'

    # -- the local repository

    def ensure(self):
        if not os.path.exists(os.path.join(self.git_dir, 'HEAD')):
            os.makedirs(self.git_dir, mode=0o700, exist_ok=True)
            self.run('init', '--quiet', '--bare', self.git_dir,
                     env={'GIT_DIR': self.git_dir})
            self.run('symbolic-ref', 'HEAD', BRANCH)
            self.run('config', 'gc.autoDetach', 'false')
        askpass = os.path.join(self.git_dir, ASKPASS)
        try:
            with open(askpass) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != ASKPASS_SCRIPT:
            with open(askpass + '.tmp', 'w') as f:
                f.write(ASKPASS_SCRIPT)
            os.chmod(askpass + '.tmp', 0o700)
            os.replace(askpass + '.tmp', askpass)

    def commit_of(self, ref):
        """The commit `ref` names here, or None."""
        result = self.run('rev-parse', '--verify', '--quiet',
                          ref + '^{commit}', check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def head(self):
        return self.commit_of(BRANCH)

    def record(self, backup_path, message):
        """Commit the files of the backup at `backup_path` on the branch;
        returns the commit."""
        self.ensure()
        index = os.path.join(self.git_dir, INDEX)
        if os.path.exists(index):
            os.remove(index)
        env = {'GIT_INDEX_FILE': index, 'GIT_WORK_TREE': backup_path}
        try:
            self.run('add', '--all', '--', '.', cwd=backup_path, env=env)
            tree = self.run('write-tree', env=env)
        finally:
            if os.path.exists(index):
                os.remove(index)
        parent = self.head()
        commit = self.run('commit-tree', tree, *(
            ('-p', parent) if parent else ()), '-m', message)
        self.run('update-ref', BRANCH, commit, parent or '')
        self.run('gc', '--auto', '--quiet')
        return commit

    def manifest_of(self, commit):
        result = self.run('show', '%s:manifest.json' % commit, check=False)
        if result.returncode:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    # -- the remote

    def remote_head(self):
        """The commit of the remote's branch main, or None if it has none."""
        out = self.run('ls-remote', '--', self.remote.url, BRANCH)
        for line in out.splitlines():
            commit, _, ref = line.partition('\t')
            if ref == BRANCH:
                return commit
        return None

    def contains(self, commit, ancestor):
        if self.commit_of(ancestor) is None:
            return False
        return self.run('merge-base', '--is-ancestor', ancestor, commit,
                        check=False).returncode == 0

    def publish(self):
        """Push the branch to the remote, continuing the remote's history
        when it is ahead (same CA only).  Returns (the commit pushed, a
        sentence about what was continued or None); RepositoryError."""
        if self.remote is None:
            return None, None
        self.ensure()
        local = self.head()
        if local is None:
            return None, None
        try:
            remote = self.remote_head()
        except RepositoryError as e:
            raise RepositoryError(
                'backup-repository %s cannot be read (%s) Check the URL,'
                ' that the repository exists and that this partition may'
                ' write to it%s.' % (self.shown(), str(e).rstrip('.') + '.',
                                     self.access_hint()))
        if remote == local:
            return local, None
        continued = None
        if remote is not None and not self.contains(local, remote):
            self.run('fetch', '--quiet', '--no-tags', '--', self.remote.url,
                     '+%s:%s' % (BRANCH, FETCHED))
            fetched = self.commit_of(FETCHED)
            theirs = self.manifest_of(fetched) or {}
            ours = self.manifest_of(local) or {}
            if 'ca-fingerprint' not in theirs:
                raise RepositoryError(
                    'The branch main of backup-repository %s holds something'
                    ' else than backups of re6st-backup (no manifest.json):'
                    ' give an empty repository, or one this registry pushed'
                    ' to.' % self.shown())
            if theirs['ca-fingerprint'] != ours.get('ca-fingerprint'):
                raise RepositoryError(
                    'backup-repository %s holds the backups of another'
                    ' network (CA %s, %s) than this registry\'s (CA %s):'
                    ' give each registry a repository of its own.'
                    % (self.shown(), theirs['ca-fingerprint'],
                       theirs.get('ipv6-prefix', '?'),
                       ours.get('ca-fingerprint')))
            tree = self.run('rev-parse', local + '^{tree}')
            message = self.run('log', '-1', '--format=%B', local)
            commit = self.run('commit-tree', tree, '-p', fetched,
                              '-m', message)
            self.run('update-ref', BRANCH, commit, local)
            continued = ('backup-repository %s had backups of this CA that'
                         ' this partition did not push (a restored or'
                         ' re-created registry): the newest backup now'
                         ' continues its history.' % self.shown())
            local = commit
        try:
            self.run('push', '--quiet', '--', self.remote.url,
                     '%s:%s' % (BRANCH, BRANCH))
        except RepositoryError as e:
            raise RepositoryError('Pushing to backup-repository %s failed'
                                  ' (%s) Check that this partition may write'
                                  ' to it%s.' % (
                                      self.shown(),
                                      str(e).rstrip('.') + '.',
                                      self.access_hint()))
        return local, continued

    def access_hint(self):
        kind = self.remote.kind
        if kind == 'ssh':
            return (": with ssh, the partition's public key"
                    ' (backup-ssh-public-key) must be allowed to write')
        if kind == 'http':
            return ': with https, the user and password (or token) in the URL'
        return (": with a path, the partition's user must own or be allowed"
                ' to write the repository')
