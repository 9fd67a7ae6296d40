"""re6st-registry as the release runs it, from this checkout, on
loopback; re6st-conf and a node's view of the registry come from
harness.re6st."""
import os
import socket
import subprocess
import sys

from cryptography import x509

from slapos_re6st.lib import admin, ca, files, registry_config
from slapos_re6st.lib.wait import wait_for

from harness import PREFIX
from harness.re6st import (  # noqa: F401 (the units' too)
    node_certificate, node_client, node_prefix, re6stnet_config, run_conf)


def free_port(*hosts):
    """A TCP port free on each of `hosts` (default: 127.0.0.1)."""
    hosts = hosts or ('127.0.0.1',)
    while True:
        sockets = []
        try:
            for host in hosts:
                s = socket.socket(socket.AF_INET6 if ':' in host
                                  else socket.AF_INET)
                sockets.append(s)
                s.bind((host, sockets[0].getsockname()[1]
                        if len(sockets) > 1 else 0))
            return sockets[0].getsockname()[1]
        except OSError:
            continue  # taken on another host: another one
        finally:
            for s in sockets:
                s.close()


# re6st-registry as the release runs it (re6st-registry-service), from
# this checkout
REGISTRY_SERVICE = [sys.executable, '-c', 'import sys; sys.path[0:0] = %r;'
                    ' from slapos_re6st.cli.registry import main; main()'
                    % sys.path]


class RunningRegistry:
    """The real re6st-registry on 127.0.0.1, run as the release runs it,
    with a CA of its own in `directory`, the configuration this release
    renders (lib.registry_config) with `options` and an admin secret
    (`secret`, the file; lib.admin).  stop() it (cleanup)."""

    def __init__(self, directory, prefix=PREFIX, main_node=None, **options):
        os.makedirs(os.path.join(directory, 'run'), exist_ok=True)
        self.directory = directory
        self.cert = ca.ensure_ca(
            self.path('ca.key'), self.path('ca.crt'), self.path('dh.pem'),
            2048, prefix)
        self.fingerprint = ca.fingerprint(self.cert)
        self.port = free_port()
        options = dict({
            'port': self.port, 'ipv4': '127.0.0.1',
            'db': self.path('registry.db'), 'ca': self.path('ca.crt'),
            'key': self.path('ca.key'), 'dh': self.path('dh.pem'),
            'prefix-length': 16, 'logfile': self.path('registry.log'),
            'run': self.path('run')}, **options)
        self.config = self.path('registry.conf')
        files.write(self.config, registry_config.render(options), 0o600)
        self.secret = self.path('admin.secret')
        admin.make_secret(self.secret)
        self.url = 'http://127.0.0.1:%s/' % self.port
        self.output = open(self.path('output.log'), 'ab')
        self.process = subprocess.Popen(
            REGISTRY_SERVICE + ['--admin-secret', self.secret] + (
                ['--main-node', main_node] if main_node else []) + [
                    '@' + self.config],
            stdout=self.output, stderr=subprocess.STDOUT)
        if not wait_for(self.answers, 30, 0.1) or \
                self.process.poll() is not None:
            self.stop()
            raise AssertionError('re6st-registry did not start: %s'
                                 % files.read(self.path('output.log')))

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def answers(self):
        """Whether it accepts connections (or died: no use waiting)."""
        try:
            with socket.create_connection(('127.0.0.1', self.port), 1):
                return True
        except OSError:
            return self.process.poll() is not None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.output.close()

    def admin(self):
        """The release's client of the registry, with its admin secret."""
        from slapos_re6st.lib.client import Client
        return Client(self.url, self.secret)

    def add_token(self, token, email=None):
        """addToken from the registry's own host."""
        self.admin().call('addToken', email or token + '@example.com', token)

    def join(self, token, url=None, add_token=False):
        """A node registered with `token` by re6st-conf (added first with
        `add_token`): its directory."""
        if add_token:
            self.add_token(token)
        directory = self.path('node-%s' % token)
        os.makedirs(directory)
        result = run_conf(url or self.url, directory, '--fingerprint',
                          self.fingerprint, '--token', token)
        assert result.returncode == 0, result.stdout + result.stderr
        return directory

    @staticmethod
    def node_prefix(directory):
        """The node's prefix as the registry names it: 'number/length'."""
        return node_certificate(directory).subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value
