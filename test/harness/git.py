"""git for the tests: repositories, and git's own smart HTTP server (git
http-backend) behind basic authentication on loopback."""
import os
import shutil
import socket
import subprocess
import time
import unittest

from . import find_server

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


def find_lighttpd():
    return find_server('lighttpd')


def find_http_backend():
    """git's own CGI for its smart HTTP protocol."""
    try:
        exec_path = subprocess.run(['git', '--exec-path'], check=True,
                                   capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    backend = os.path.join(exec_path.strip(), 'git-http-backend')
    return backend if os.access(backend, os.X_OK) else None


def git_http_unusable():
    """Why a git HTTP server cannot run here, or None."""
    if not GIT:
        return 'git is not installed (apt-get install git)'
    if not find_lighttpd():
        return 'lighttpd is not installed (make test as root provides one)'
    if not find_http_backend():
        return "git's http-backend is missing"
    return None


needs_git_http = unittest.skipIf(git_http_unusable(),
                                 git_http_unusable() or '')

# git http-backend as git-http-backend(1) sets it up for lighttpd, behind
# basic authentication
CONFIG = '''\
server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_cgi",
                  "mod_setenv", "mod_accesslog")
server.document-root = "%(directory)s"
server.bind = "127.0.0.1"
server.port = %(port)s
server.errorlog = "%(errors)s"
server.upload-dirs = ("%(directory)s")
accesslog.filename = "%(log)s"
alias.url = ("/git/" => "%(backend)s/")
$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "%(root)s",
                            "GIT_HTTP_EXPORT_ALL" => "1",
                            "GIT_CONFIG_NOSYSTEM" => "1",
                            "GIT_CONFIG_GLOBAL" => "/dev/null")
  auth.backend = "plain"
  auth.backend.plain.userfile = "%(users)s"
  auth.require = ("" => ("method" => "basic", "realm" => "git",
                         "require" => "valid-user"))
}
'''


class GitHttpServer:
    """git's smart HTTP protocol served by git http-backend behind
    lighttpd (a packaged HTTP/1.1 server: chunked bodies, Expect:
    100-continue), with basic authentication for one user, on 127.0.0.1.

    `url_with(user, password, 'registry.git')` is the URL of a repository
    under `root`; `requests()` lists the request lines lighttpd logged."""

    def __init__(self, root, user, password, directory):
        os.makedirs(directory, exist_ok=True)
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        users = os.path.join(directory, 'users')
        with open(users, 'w') as f:
            f.write('%s:%s\n' % (user, password))
        os.chmod(users, 0o600)
        self.log = os.path.join(directory, 'access.log')
        lighttpd = find_lighttpd()
        modules = os.path.join(os.path.dirname(os.path.dirname(lighttpd)),
                               'lib', 'lighttpd')
        config = os.path.join(directory, 'lighttpd.conf')
        with open(config, 'w') as f:
            f.write(CONFIG % {
                'root': os.path.abspath(root), 'port': self.port,
                'backend': find_http_backend(), 'users': users,
                'log': self.log,
                'errors': os.path.join(directory, 'error.log'),
                'directory': os.path.abspath(directory)})
        stderr = os.path.join(directory, 'stderr')
        with open(stderr, 'w') as err:
            self.process = subprocess.Popen(
                [lighttpd, '-D', '-f', config, '-m', modules],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port), 1).close()
                return
            except OSError:
                if self.process.poll() is not None \
                        or time.monotonic() > deadline:
                    self.stop()
                    with open(stderr) as f:
                        raise RuntimeError('lighttpd did not start: %s'
                                           % f.read())
                time.sleep(0.05)

    def url_with(self, user, password, repository):
        """The URL of `repository` with these credentials (quote the
        password yourself where it needs it)."""
        return 'http://%s:%s@127.0.0.1:%s/git/%s' % (
            user, password, self.port, repository)

    def requests(self):
        try:
            with open(self.log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
