"""The partition's git repository of backups, pushed to backup-repository.

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

Secrets: a password in an http(s) URL never reaches a command line, a log,
a status file nor the repository's configuration.  git is given the URL
without it (lib.remote) and gets it from GIT_ASKPASS, a script of the
partition that answers from that git process's environment.  git never
reads the user's or the system's configuration (no credential helper can
store it) and never prompts.  ssh runs in batch mode with the partition's
key and known hosts (a new host is accepted once, then must not change).
"""
import dataclasses
import json
import os
import shlex
import socket
import subprocess
import urllib.parse

from ..lib import files
from ..lib.remote import HIDDEN_PASSWORD


class RepositoryError(Exception):
    """What went wrong with backup-repository, as a sentence."""


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
# A transfer that stalls this long ends (http(s): less than LOW_SPEED bytes
# a second; ssh: no answer to its keep-alives; no ssh connection and
# banner within half of it), and a
# listing of the remote's branches (ls-remote: small, but it is where an
# https handshake that never ends would hang) takes at most twice this.
STALL_TIME = 60
LOW_SPEED = 1000


# -- the partition's ssh key --------------------------------------------------

def planned_ssh_key(path, comment, pending):
    """The OpenSSH public key line of the partition's ssh key at `path`
    (Ed25519, mode 0600, made in memory if there is none yet), and its
    `path`.pub next to it, for `pending` (a lib.files.Pending) to write."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    if os.path.exists(path):
        with open(path, 'rb') as f:
            key = serialization.load_ssh_private_key(f.read(), None)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        pending.new(path, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()), 0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode()
    line = '%s %s' % (public, comment)
    pending.changed(path + '.pub', line + '\n')
    return line


def ensure_ssh_key(path, comment):
    """planned_ssh_key(), written now."""
    pending = files.Pending()
    line = planned_ssh_key(path, comment, pending)
    pending.write_all()
    return line


# -- the repository -----------------------------------------------------------

@dataclasses.dataclass
class Repository:
    """The partition's bare repository at `git_dir`, pushing to `remote`
    (a lib.remote.Remote, or None: record only)."""
    git_dir: str
    remote: object = None
    git: str = 'git'
    ssh_key: str = None
    known_hosts: str = None
    timeout: float = TIMEOUT
    stall_time: int = STALL_TIME

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
                       '-o', 'ConnectTimeout=%d' % max(
                           1, self.stall_time // 2),
                       '-o', 'ServerAliveInterval=%d' % max(
                           1, self.stall_time // 4),
                       '-o', 'ServerAliveCountMax=4']
            if self.ssh_key:
                command += ['-i', self.ssh_key, '-o', 'IdentitiesOnly=yes']
            if self.known_hosts:
                command += ['-o', 'UserKnownHostsFile=' + self.known_hosts]
            env['GIT_SSH_COMMAND'] = ' '.join(map(shlex.quote, command))
        return env

    def run(self, *args, cwd=None, env=None, check=True, timeout=None):
        """git `args`: its standard output, stripped.  RepositoryError with
        git's own message (never a password) when it fails."""
        timeout = timeout or self.timeout
        try:
            result = subprocess.run(
                [self.git, '-c', 'credential.helper=', '-c',
                 'core.askPass=',
                 '-c', 'http.lowSpeedLimit=%d' % LOW_SPEED,
                 '-c', 'http.lowSpeedTime=%d' % self.stall_time, *args],
                cwd=cwd, env=dict(self.env(), **(env or {})),
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RepositoryError('git %s took more than %s s: is %s'
                                  ' reachable?' % (args[0], timeout,
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
        files.write_if_changed(os.path.join(self.git_dir, ASKPASS),
                               ASKPASS_SCRIPT, 0o700)

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
        out = self.run('ls-remote', '--', self.remote.url, BRANCH,
                       timeout=2 * self.stall_time)
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
