"""A partition of SlapOS's own re6stnet release (software/re6stnet), for
the adoption tests (slapos_re6st/lib/adoption.py): the switch test of
test/standalone, and test/unit through support.old_release.

The CA is made by that recipe's own code (slapos.cookbook's
re6stnet.registry, the pinned egg, run in a Python of its own) when a
software build of this checkout's tests holds it (cookbook()), else by
Debian's openssl with the commands of its `generateCertificate` (genrsa,
then req -x509 -set_serial 0x1<prefix bits>); the DH file is
written beforehand (the recipe only runs `openssl dhparam` when it is
missing, 5 to 54 s here); token.json and the .add files as its install()
writes them (its generateSlaveTokenList, when it can be run), .status as its token manager (re6stnet.py) does; the
database by re6st's own RegistryServer (addToken with the name the token
manager gives, "<reference lower case>@slapos", requestCertificate for the
tokens used).  The configuration file is that of the profile's
re6st-registry.conf.in.
"""
import glob
import ipaddress
import json
import os
import random
import string
import subprocess
import sys

import hashlib

from . import TOP

CONF = '''\
port  %(port)s
4  %(ipv4)s
authorized-origin  %(ipv4)s
6  ''
db  %(db)s
ca  %(ca)s
key  %(key)s
dh   %(dh)s
client-count 10
tunnel-refresh 300
hello 15
mailhost 127.0.0.1
prefix-length  16
anonymous-prefix-length  0
logfile  %(log)s
verbose  2
run %(run)s
grace-period 8640000
'''


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def read(path):
    """The text of `path`, or None when it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def cookbook_eggs():
    """[path] of the pinned slapos.cookbook egg and of the eggs its recipe
    imports that the tests' environment lacks (zc.recipe.egg, six), from a
    software build of this checkout's tests; None without one."""
    roots = [os.environ.get('SLAPOS_TEST_WORKING_DIR', ''),
             os.path.join(TOP, '.work', 'test')]
    for root in roots:
        eggs = glob.glob(os.path.join(root, 'soft', '*', 'eggs', '*', '*'))
        found = [egg for name in ('slapos.cookbook-', 'zc.recipe.egg-',
                                  'six-')
                 for egg in eggs if os.path.basename(egg).startswith(name)]
        if any('slapos.cookbook-' in egg for egg in found):
            return found
    return None


# the old release's code runs in a Python of its own, with the eggs as
# buildout would give them (site.addsitedir: their namespace packages)
PRELUDE = """\
import json, os, site, sys
for egg in sys.argv[1].split(os.pathsep):
    site.addsitedir(egg)
"""


def run_cookbook(code, *args):
    """Run `code` with the pinned slapos.cookbook (cookbook_eggs()) and
    re6stnet importable, `args` as sys.argv[2:]: its standard output."""
    result = subprocess.run(
        [sys.executable, '-c', PRELUDE + code,
         os.pathsep.join(cookbook_eggs())] + [str(a) for a in args],
        capture_output=True, text=True, timeout=300)
    if result.returncode:
        raise AssertionError('slapos.cookbook failed: %s%s'
                             % (result.stdout, result.stderr))
    return result.stdout


RECIPE = """\
from slapos.recipe.re6stnet import Recipe
recipe = Recipe.__new__(Recipe)  # its __init__ talks to the master
recipe.options = json.loads(sys.argv[2])
"""


def software_build():
    """The software build of this checkout's tests (a folder with
    bin/buildout and instance.cfg), or None."""
    roots = [os.environ.get('SLAPOS_TEST_WORKING_DIR', ''),
             os.path.join(TOP, '.work', 'test')]
    for root in roots:
        for build in sorted(glob.glob(os.path.join(root, 'soft', '*'))):
            if os.path.exists(os.path.join(build, 'bin', 'buildout')) and \
                    os.path.exists(os.path.join(build, 'instance.cfg')):
                return build
    return None


# What the old profile's parts leave in a partition, made by a real
# buildout run with the recipes it uses (slapos.cookbook's wrapper, cron.d,
# check_port_listening, mkdirectory; slapos.recipe.template), recorded
# apart as its switch-softwaretype sub-buildout records them: a program
# in etc/service (its Apache there: here a process that only waits), one
# in etc/run (its token manager), a cron entry, a promise on its
# registry's port (which nothing serves once this release runs), the
# .slapos-port-redirect.
OLD_PROFILE = """\
[buildout]
parts = directory httpd token-manager cron-entry registry-promise
  port-redirection
installed = %(record)s
offline = true
eggs-directory = %(eggs)s
eggs-directory-version =
develop-eggs-directory = %(develop)s
directory = %(root)s

[directory]
recipe = slapos.cookbook:mkdirectory
services = ${buildout:directory}/etc/service
script = ${buildout:directory}/etc/run
promises = ${buildout:directory}/etc/promise
cron-entries = ${buildout:directory}/etc/cron.d

[httpd]
recipe = slapos.cookbook:wrapper
command-line = sleep 100000
wrapper-path = ${directory:services}/httpd

[token-manager]
recipe = slapos.cookbook:wrapper
command-line = true
wrapper-path = ${directory:script}/re6st-token-manager

[cron-entry]
recipe = slapos.cookbook:cron.d
cron-entries = ${directory:cron-entries}
name = re6stnet-check-token
frequency = */5 * * * *
command = true

[registry-promise]
recipe = slapos.cookbook:check_port_listening
path = ${directory:promises}/re6st-registry
hostname = %(ipv4)s
port = %(port)s

[port-redirection]
recipe = slapos.recipe.template
inline = [{"srcPort": %(port)s, "destPort": %(port)s, "destAddress": "%(ipv4)s"}]
output = ${buildout:directory}/.slapos-port-redirect
"""
OLD_PROFILE_FILES = ('etc/service/httpd', 'etc/run/re6st-token-manager',
                     'etc/cron.d/re6stnet-check-token',
                     'etc/promise/re6st-registry', '.slapos-port-redirect',
                     '.installed-switch-softwaretype.cfg')
# The outer record: the old instance.cfg's switch-softwaretype part,
# whose recipe runs the sub-buildout (the SlapOS fork's buildout only:
# zc.buildout from PyPI lacks the `dumps` it imports), as buildout records
# it
OLD_SWITCH = """
[switch-softwaretype]
__buildout_installed__ = 
__buildout_signature__ = slapos.cookbook-1.0.514
default = dynamic-template-re6stnet:output
recipe = slapos.cookbook:switch-softwaretype
"""


def cookbook():
    """Whether the pinned slapos.cookbook's own code can be run."""
    return cookbook_eggs() is not None


def token_manager(step, url, token_dir):
    """A step of the old token manager (slapos.cookbook's re6stnet.py:
    requestAddToken, requestRemoveToken) against the registry at `url`."""
    run_cookbook(
        'from pathlib import Path\n'
        'from re6st import registry\n'
        'from slapos.recipe.re6stnet import re6stnet\n'
        're6stnet.%s(registry.RegistryClient(sys.argv[2]), Path(sys.argv[3]))'
        % step, url, token_dir)


def instance_eggs(build):
    """(eggs-directory, develop-eggs-directory) of the instance profile of
    the software build `build`."""
    found = {}
    for line in read(os.path.join(build, 'instance.cfg')).splitlines():
        key, sep, value = line.partition('=')
        if sep and key.strip() in ('eggs-directory',
                                   'develop-eggs-directory'):
            found.setdefault(key.strip(), value.strip())
    return found['eggs-directory'], found['develop-eggs-directory']


def serial(prefix):
    """As the recipe's getSerialFromIpv6."""
    network = ipaddress.IPv6Network(prefix)
    bits = format(int(network.network_address), '0128b')[:network.prefixlen]
    return '0x%x' % int('1' + bits, 2)


class OldPartition:
    """The files of a registry partition of SlapOS's re6stnet release
    under `root`, its IPv4 `ipv4` (re6st-registry's address, port 9201)."""

    def __init__(self, root, prefix='2001:db8:24::/48', key_size=2048,
                 ipv4='127.0.0.1', port=9201):
        self.root = root
        self.prefix = prefix
        self.key_size = key_size
        self.conf_dir = self.path('etc/re6stnet')
        self.token_dir = self.path('etc/re6stnet/token')
        self.ssl = self.path('etc/re6stnet/ssl')
        self.db = self.path('srv/re6stnet/registry.db')
        for d in (self.token_dir, self.ssl, os.path.dirname(self.db),
                  self.path('var/log/re6stnet'), self.path('var/run/re6stnet'),
                  self.path('etc/service')):
            os.makedirs(d, exist_ok=True)
        self.cert = os.path.join(self.ssl, 're6stnet.crt')
        self.key = os.path.join(self.ssl, 're6stnet.key')
        self.dh = os.path.join(self.ssl, 'dh.pem')
        self.conf = os.path.join(self.conf_dir, 'registry.conf')
        self.ipv4, self.port = ipv4, port
        write(self.conf, CONF % {
            'port': port, 'ipv4': ipv4, 'db': self.db, 'ca': self.cert,
            'key': self.key, 'dh': self.dh,
            'log': self.path('var/log/re6stnet/registry.log'),
            'run': self.path('var/run/re6stnet')})
        write(self.path('.slapos-port-redirect'), json.dumps(
            [{'srcPort': 9201, 'destPort': 9201, 'destAddress': ipv4}]))

    def path(self, relative):
        return os.path.join(self.root, relative)

    def run_profile(self, build):
        """The old profile's parts (OLD_PROFILE) installed in the
        partition by the real buildout of the software build `build`, and
        the outer record of the instance profile that ran it."""
        eggs, develop = instance_eggs(build)
        profile = self.path('parts/old-profile.cfg')
        os.makedirs(os.path.dirname(profile), exist_ok=True)
        write(profile, OLD_PROFILE % {
            'record': '.installed-switch-softwaretype.cfg', 'eggs': eggs,
            'develop': develop, 'root': self.root, 'ipv4': self.ipv4,
            'port': self.port})
        buildout = os.path.join(build, 'bin', 'buildout')
        result = subprocess.run([buildout, '-c', profile], cwd=self.root,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        # the outer record: the template of the old profile rendered by
        # slapos.recipe.template, then switch-softwaretype
        outer = self.path('parts/old-instance.cfg')
        write(outer, '[buildout]\nparts = dynamic-template-re6stnet\n'
              'offline = true\neggs-directory = %s\n'
              'eggs-directory-version =\ndevelop-eggs-directory = %s\n'
              'directory = %s\n\n[dynamic-template-re6stnet]\n'
              'recipe = slapos.recipe.template:jinja2\nurl = %s\n'
              'output = ${buildout:parts-directory}/${:_buildout_section_name_}'
              '/instance-re6stnet.cfg\n' % (eggs, develop, self.root,
                                             profile))
        result = subprocess.run([buildout, '-c', outer], cwd=self.root,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        record = read(self.path('.installed.cfg')).replace(
            'parts = dynamic-template-re6stnet',
            'parts = dynamic-template-re6stnet switch-softwaretype')
        write(self.path('.installed.cfg'), record + OLD_SWITCH)

    def options(self):
        """The recipe's options, as the profile sets them."""
        return {'openssl-bin': '/usr/bin/openssl',
                'ipv6-prefix': self.prefix, 'key-size': str(self.key_size),
                'conf-dir': self.conf_dir, 'token-dir': self.token_dir,
                'key-file': self.key, 'cert-file': self.cert,
                'dh-file': self.dh, 'ipv4': self.ipv4,
                'port': str(self.port)}

    def make_ca(self):
        # RFC 7919's ffdhe2048: what matters is that the file exists
        subprocess.run(['openssl', 'genpkey', '-genparam', '-algorithm', 'DH',
                        '-pkeyopt', 'group:ffdhe2048', '-out', self.dh],
                       check=True, capture_output=True)
        if cookbook():
            run_cookbook(RECIPE + 'recipe.generateCertificate()\n',
                         json.dumps(self.options()))
            return 'slapos.cookbook'
        subprocess.run(['openssl', 'genrsa', '-out', self.key,
                        str(self.key_size)], check=True, capture_output=True)
        subprocess.run(['openssl', 'req', '-nodes', '-new', '-sha256',
                        '-x509', '-batch', '-key', self.key, '-set_serial',
                        serial(self.prefix), '-days', '3650', '-out',
                        self.cert], check=True, capture_output=True)
        return 'openssl'

    def request_tokens(self, references):
        """As the recipe's install() for these shared instances: token.json
        and a .add file per new token.  {reference: token}."""
        token_json = os.path.join(self.conf_dir, 'token.json')
        if cookbook():
            current, added, removed = json.loads(run_cookbook(
                RECIPE + 'print(json.dumps(recipe.generateSlaveTokenList('
                'json.loads(sys.argv[3]), sys.argv[4])))\n',
                json.dumps(self.options()),
                json.dumps([{'slave_reference': r} for r in references]),
                token_json))
        else:
            current = json.loads(read(token_json) or '{}')
            added, removed = {}, {}
            for reference in references:
                if reference not in current:
                    current[reference] = added[reference] = (
                        reference.split('-')[1]
                        + ''.join(random.sample(string.ascii_lowercase, 20)))
            for reference in list(current):
                if reference not in references:
                    removed[reference] = current.pop(reference)
        for reference, token in added.items():
            write(os.path.join(self.token_dir, reference + '.add'),
                        token)
        for reference, token in removed.items():
            write(os.path.join(self.token_dir, reference + '.remove'),
                        token)
            add = os.path.join(self.token_dir, reference + '.add')
            if os.path.exists(add):
                os.unlink(add)
        write(token_json, json.dumps(current))
        return current

def digest_tree(root):
    """{relative path: sha256} of every file under `root`: what a refusal
    must leave unchanged."""
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, 'rb') as f:
                    found[os.path.relpath(path, root)] = hashlib.sha256(
                        f.read()).hexdigest()
    return found
