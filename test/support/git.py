"""git for the tests: repositories, and git's own smart HTTP server (git
http-backend) behind basic authentication on loopback."""
import base64
import http.server
import os
import shutil
import subprocess
import threading
import unittest

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


def serve_git_http(root, user, password):
    """A git HTTP server of the repositories under `root` on 127.0.0.1,
    for `user` and `password`: (server, its handler class, whose `seen`
    lists every request line).  Stop it with server.shutdown() and
    server.server_close()."""
    handler = type('Handler', (GitHttpHandler,), {
        'root': root, 'user': user, 'password': password, 'seen': []})
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler
