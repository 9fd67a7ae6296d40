"""A SlapOS node as SlapOS's node packages make one, for test/node (run
as root): a Debian 11 root filesystem (its Python 3.9) holding slapos.core,
zc.buildout and setuptools at the versions SlapOS's node profile pins,
from PyPI (SlapOS's fork of zc.buildout, 3.0.1+slapos010, cannot be
downloaded here: its base version stands in for it).

The root filesystem comes from the Debian mirror of this machine's apt
configuration (read at run time) and is kept in ROOTFS from one run to the
next; what runs in it is made anew each time.
"""
import configparser
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile

from slapos_re6st.lib.files import hexdigest

from . import TOP

SUITE = 'bullseye'  # Debian 11
# what a SlapOS node has installed to build software releases (SlapOS's
# node packages pull the compiler and headers in), haproxy for this one
PACKAGES = (
    'python3 python3-venv python3-dev gcc g++ make patch pkg-config'
    ' libssl-dev zlib1g-dev libffi-dev libsqlite3-dev libbz2-dev'
    ' liblzma-dev xz-utils ca-certificates haproxy').split()
# slapos as SlapOS's node profile pins it (stack/slapos.cfg, 2026)
SLAPOS = ('pip==23.2.1 wheel==0.41.2 setuptools==67.8.0 zc.buildout==3.0.1'
          ' slapos.core==1.22.1 slapos.libnetworkcache==0.28').split()
SLAPOS_VENV = '/opt/slapos'
USER = 'slapuser'
ROOTFS = '/var/tmp/slapos-re6st-node'
UID = 1000
HOME = '/home/' + USER


def mirror():
    """The Debian archive of this machine's apt configuration (the first
    one not for security updates)."""
    for path in sorted(glob.glob('/etc/apt/sources.list.d/*.sources')):
        with open(path) as f:
            stanzas = f.read().split('\n\n')
        for stanza in stanzas:
            fields = {}
            for line in stanza.splitlines():
                if ':' in line and not line.startswith(('#', ' ')):
                    key, value = line.split(':', 1)
                    fields[key.strip()] = value.strip()
            if ('deb' in fields.get('Types', '').split()
                    and 'security' not in fields.get('Suites', '')
                    and fields.get('URIs')):
                return fields['URIs'].split()[0]
    for path in ['/etc/apt/sources.list'] + sorted(
            glob.glob('/etc/apt/sources.list.d/*.list')):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            if words[:1] == ['deb'] and 'security' not in line:
                for word in words[1:]:
                    if '://' in word:
                        return word
    raise AssertionError('No Debian mirror in the apt configuration')


def profile_option(section, option):
    """An option of software.cfg (as written, without substitution)."""
    parser = configparser.RawConfigParser(strict=False)
    parser.read(os.path.join(TOP, 'software.cfg'))
    return parser.get(section, option)


def python_source(directory):
    """The CPython source tarball software.cfg names ([rebootstrap]
    python-url), from Debian's source package of the same version (Debian
    12's python3.11), in `directory` under the name buildout's download
    cache gives it; AssertionError unless its md5sum is the profile's."""
    url = profile_option('rebootstrap', 'python-url')
    expected = profile_option('rebootstrap', 'python-md5sum')
    name = url.rsplit('/', 1)[1]
    version = name[len('Python-'):-len('.tgz')]
    target = os.path.join(directory, name)
    if os.path.exists(target) and hexdigest(target, 'md5') == expected:
        return target
    with tempfile.TemporaryDirectory() as apt:
        os.makedirs(os.path.join(apt, 'lists', 'partial'))
        with open(os.path.join(apt, 'src.sources'), 'w') as f:
            f.write('Types: deb-src\nURIs: %s\nSuites: bookworm\n'
                    'Components: main\nSigned-By: /usr/share/keyrings/'
                    'debian-archive-keyring.gpg\n' % mirror())
        options = [
            '-o', 'Dir::Etc::SourceList=/dev/null',
            '-o', 'Dir::Etc::SourceParts=' + apt,
            '-o', 'Dir::State::Lists=' + os.path.join(apt, 'lists'),
            '-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache=',
            '-o', 'APT::Sandbox::User=root', '-qq']
        subprocess.run(['apt-get'] + options + ['update'], check=True)
        subprocess.run(['apt-get'] + options + [
            'source', '--download-only', 'python' + version.rsplit('.', 1)[0]
        ], check=True, cwd=apt, stdout=subprocess.DEVNULL)
        orig, = glob.glob(os.path.join(apt, '*_%s.orig.tar.gz' % version))
        found = hexdigest(orig, 'md5')
        assert found == expected, (
            "Debian's %s is not the profile's %s (md5sum %s, not %s)"
            % (os.path.basename(orig), url, found, expected))
        os.makedirs(directory, exist_ok=True)
        shutil.move(orig, target)
    return target


class Node:
    """The root filesystem `path` (made if missing) and what runs in it."""

    def __init__(self, path):
        self.path = path
        self.stamp = os.path.join(path, '.re6st-node')
        self.wanted = '\n'.join(
            [SUITE, ' '.join(PACKAGES), ' '.join(SLAPOS)]) + '\n'

    def __enter__(self):
        if not self.ready():
            self.make()
        self.mount()
        return self

    def __exit__(self, *exc):
        self.umount()

    def ready(self):
        try:
            with open(self.stamp) as f:
                return f.read() == self.wanted
        except OSError:
            return False

    def make(self):
        self.umount()
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        subprocess.run(['debootstrap', '--variant=minbase', SUITE, self.path,
                        mirror()], check=True, stdout=subprocess.DEVNULL)
        with open(self.join('etc/apt/sources.list'), 'w') as f:
            f.write('deb %s %s main\ndeb %s %s-updates main\n'
                    % (mirror(), SUITE, mirror(), SUITE))
        # the certificate authorities this machine adds (a proxy's): the
        # node trusts what the machine trusts
        cas = self.join('usr/local/share/ca-certificates')
        os.makedirs(cas, exist_ok=True)
        for crt in glob.glob('/usr/local/share/ca-certificates/*.crt'):
            shutil.copy(crt, cas)
        with self.mounted():
            self.run('apt-get update -qq && apt-get install -y -qq'
                     ' --no-install-recommends %s >/dev/null'
                     ' && apt-get clean && update-ca-certificates >/dev/null'
                     % ' '.join(PACKAGES))
            self.run('python3 -m venv {0} && {0}/bin/pip install -q'
                     ' --no-input {1} && {0}/bin/pip install -q --no-input'
                     ' {2}'.format(SLAPOS_VENV, SLAPOS[0], ' '.join(SLAPOS)))
            self.run('useradd --create-home --uid %s %s' % (UID, USER))
        with open(self.stamp, 'w') as f:
            f.write(self.wanted)

    def join(self, *path):
        return os.path.join(self.path, *path)

    # /dev is a tmpfs of its own with the few devices a build needs, never
    # a bind of this machine's: removing a forgotten root filesystem
    # cannot remove this machine's devices
    DEVICES = (('null', 1, 3), ('zero', 1, 5), ('full', 1, 7),
               ('random', 1, 8), ('urandom', 1, 9), ('tty', 5, 0))
    MOUNTS = (('proc', ['-t', 'proc', 'proc']),
              ('sys', ['-t', 'sysfs', 'sysfs']),
              ('dev', ['-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'dev']),
              ('dev/pts', ['-t', 'devpts', '-o',
                           'newinstance,ptmxmode=0666', 'devpts']),
              ('dev/shm', ['-t', 'tmpfs', '-o', 'mode=1777', 'shm']))

    def mount(self):
        for target, args in self.MOUNTS:
            path = self.join(target)
            if not os.path.ismount(path):
                os.makedirs(path, exist_ok=True)
                subprocess.run(['mount'] + args + [path], check=True)
            if target == 'dev':
                for name, major, minor in self.DEVICES:
                    device = os.path.join(path, name)
                    if not os.path.exists(device):
                        os.mknod(device, 0o20666, os.makedev(major, minor))
                        os.chmod(device, 0o666)
                if not os.path.lexists(os.path.join(path, 'ptmx')):
                    os.symlink('pts/ptmx', os.path.join(path, 'ptmx'))
        shutil.copy('/etc/resolv.conf', self.join('etc/resolv.conf'))

    def umount(self):
        for target, _ in reversed(self.MOUNTS):
            if os.path.ismount(self.join(target)):
                subprocess.run(['umount', self.join(target)], check=True)

    @contextlib.contextmanager
    def mounted(self):
        self.mount()
        try:
            yield
        finally:
            self.umount()

    def command(self, shell, user=None):
        """The argv running the shell command `shell` in the node, as root
        or `user`, with a clean environment."""
        home = HOME if user else '/root'
        spec = ['--userspec=%s:%s' % (UID, UID)] if user else []
        return ['chroot'] + spec + [self.path, '/usr/bin/env', '-i',
                                    'PATH=%s/bin:/usr/sbin:/usr/bin:/sbin:'
                                    '/bin' % SLAPOS_VENV,
                                    'HOME=' + home, 'LANG=C.UTF-8',
                                    'PIP_CERT=/etc/ssl/certs/'
                                    'ca-certificates.crt',
                                    'DEBIAN_FRONTEND=noninteractive',
                                    'sh', '-c', shell]

    def run(self, shell, user=None, **kw):
        kw.setdefault('check', True)
        return subprocess.run(self.command(shell, user), **kw)
