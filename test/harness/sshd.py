"""OpenSSH's sshd on loopback, run as the test's user."""
import os
import pwd
import shutil
import socket
import subprocess
import time

from . import find_server


def find_sshd():
    return find_server('sshd')


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
