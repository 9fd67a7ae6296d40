"""The re6st-registry configuration file (read with `re6st-registry @FILE`).

The registry listens on the partition's IPv4 only (its IPv6 side is
disabled): the public reaches it through the forward, whose connections
come from an address the registry does not trust.

The configuration is one "option value" line per re6st-registry option
(re6st.utils.ArgParser); a line "@FILE" includes another file, which is how
the SMTP password, the only secret, reaches the registry: from a file of
mode 0600 that no option value of buildout names the content of.  The main
file holds, as comments, what else its service depends on (the CA
fingerprint, the community file's digest, the GeoIP2 database, a random
version of the secret), so that it changes, and re6st-service restarts
the registry, whenever any of them changes.
"""
import hashlib
import ipaddress
import json
import os
import secrets
import shlex

import zc.buildout

from . import slapconfiguration

# re6st always trusts these (its --authorized-origin only appends).
ALWAYS_TRUSTED = ('127.0.0.1', '::1')
# (re6st-registry option, recipe option), in the order written.
OPTIONS = (
    ('port', 'port'), ('4', 'ipv4'), ('db', 'db'), ('ca', 'ca'),
    ('key', 'key'), ('dh', 'dh'), ('prefix-length', 'prefix-length'),
    ('logfile', 'logfile'), ('run', 'run'),
)
# re6st-registry options of the same name as the recipe option, written
# whenever set (their defaults come from instance-input-schema.json).
NUMBERS = ('client-count', 'max-clients', 'tunnel-refresh', 'hello',
           'min-protocol', 'grace-period', 'verbose')
SECRET_VERSION = '# smtp-password version '
# Optional options of the recipe (see Recipe).
OPTIONAL = ('authorized-origin', 'ca-fingerprint', 'anonymous-prefix-length',
            'mailhost', 'smtp-user', 'smtp-password', 'smtp-password-file',
            'smtp-starttls', 'ipv4-net', 'encrypt', 'same-country',
            'community', 'community-file', 'geoip2-mmdb') + NUMBERS


def forward_source(trusted):
    """A loopback address, not in `trusted`, for the forward to connect
    from: the registry then refuses every private RPC that comes through
    it, whatever the client's own address."""
    network = ipaddress.IPv4Network('127.0.0.0/8')
    trusted = set(trusted)
    for address in network.hosts():
        if str(address) not in trusted and str(address) != '127.0.0.1':
            return str(address)


def is_true(value):
    return (value or '').strip().lower() in ('true', 'yes', 'on', '1')


def line(option, *values):
    return ' '.join((option,) + tuple(shlex.quote(str(v)) for v in values))


def community_text(options):
    """The community configuration (the option is a JSON string), with
    one final line break; '' if none."""
    raw = options.get('community', '')
    text = json.loads(raw) if raw else ''
    if not text:
        return ''
    text = '\n'.join(text.replace('\r\n', '\n').replace('\r', '\n')
                     .split('\n'))
    return text.rstrip('\n') + '\n'


def secret_file_text(password, version):
    return '\n'.join((
        '# Written by slapos_re6st:registry-config; do not edit.',
        SECRET_VERSION + version,
        line('smtp-pwd', password))) + '\n'


def read_secret_file(path):
    """(password, version) of an existing secret file; (None, None)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None, None
    password = version = None
    for text_line in text.splitlines():
        if text_line.startswith(SECRET_VERSION):
            version = text_line[len(SECRET_VERSION):].strip()
        elif text_line.startswith('smtp-pwd '):
            value = shlex.split(text_line)[1:]
            password = value[0] if len(value) == 1 else None
    return password, version


def render(options, secret_version=None):
    """The configuration file's text for the recipe's options.
    `secret_version`: that of the SMTP password file, included when set."""
    lines = ['# Written by slapos_re6st:registry-config; do not edit.']
    if options.get('ca-fingerprint'):
        lines.append('# CA %s' % options['ca-fingerprint'])
    for arg, key in OPTIONS:
        lines.append(line(arg, options[key]))
    lines.append("6 ''")  # no IPv6 listener: the forward is the public side
    for origin in options.get('authorized-origin', '').split():
        lines.append(line('authorized-origin', origin))
    anonymous = int(options.get('anonymous-prefix-length') or 0)
    if anonymous:
        lines.append(line('anonymous-prefix-length', anonymous))
    mailhost = options.get('mailhost', '')
    if mailhost:
        lines.append(line('mailhost', mailhost))
        if options.get('smtp-user'):
            lines.append(line('smtp-user', options['smtp-user']))
        if secret_version:
            lines.append(SECRET_VERSION + secret_version)
            lines.append('@' + options['smtp-password-file'])
        if is_true(options.get('smtp-starttls')):
            lines.append('smtp-starttls')
    if options.get('ipv4-net'):
        network, plen = options['ipv4-net'].split()
        lines.append(line('ipv4', network, plen))
    for key in NUMBERS:
        if options.get(key):
            lines.append(line(key, options[key]))
    if is_true(options.get('encrypt')):
        lines.append('encrypt')
    for code in options.get('same-country', '').split():
        lines.append(line('same-country', code))
    community = community_text(options)
    if community:
        lines.append('# community sha256 %s'
                     % hashlib.sha256(community.encode()).hexdigest())
        lines.append(line('community', options['community-file']))
    if options.get('geoip2-mmdb'):
        lines.append('# GEOIP2_MMDB %s (from the environment)'
                     % options['geoip2-mmdb'])
    return '\n'.join(lines) + '\n'


def write_if_changed(path, text, mode=None):
    """Write `text` to `path` unless it already holds it; True if written.
    With `mode`, the file has that mode afterwards either way (and never
    another one before: the text may be secret)."""
    try:
        with open(path) as f:
            same = f.read() == text
    except FileNotFoundError:
        same = False
    if not same:
        tmp = '%s.%s.tmp' % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o666 if mode is None else mode)
        try:
            with os.fdopen(fd, 'w') as f:
                if mode is not None:
                    os.fchmod(f.fileno(), mode)
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    if mode is not None:
        os.chmod(path, mode)
    return not same


class Recipe:
    """Options: output, and port, ipv4, db, ca, key, dh, prefix-length,
    logfile, run, authorized-origin (space separated); optional:
    ca-fingerprint, anonymous-prefix-length, mailhost, smtp-user,
    smtp-password (set: the secret of this run's request, see
    slapconfiguration) with smtp-password-file, smtp-starttls, ipv4-net
    ("IP/N PLEN"), client-count, max-clients, tunnel-refresh, hello,
    min-protocol, encrypt, same-country (space separated), community (a
    JSON string) with community-file, geoip2-mmdb, grace-period, verbose.
    Sets: forward-source (where the public forward connects from)."""

    def __init__(self, buildout, name, options):
        missing = [key for _, key in OPTIONS if not options.get(key)]
        if not options.get('output'):
            missing.append('output')
        if options.get('smtp-password') and options.get('mailhost'):
            missing += [key for key in ('smtp-password-file',)
                        if not options.get(key)]
        if options.get('community') and community_text(options):
            missing += [key for key in ('community-file',)
                        if not options.get(key)]
        if missing:
            raise zc.buildout.UserError('[%s] needs the options %s.' % (
                name, ', '.join(missing)))
        self.options = options
        for key in OPTIONAL:  # all read (buildout warns of unread options)
            options.get(key)
        trusted = ALWAYS_TRUSTED + tuple(
            options.get('authorized-origin', '').split())
        options['forward-source'] = forward_source(trusted)
        self.password = self.secret_version = None
        if options.get('smtp-password') and options.get('mailhost'):
            self.password = slapconfiguration.secret(buildout, 'smtp-password')
            if self.password is None:
                raise zc.buildout.UserError(
                    '[%s] smtp-password is set but this buildout run did not'
                    ' read it: run the whole instance profile.' % name)
            old, version = read_secret_file(options['smtp-password-file'])
            self.secret_version = (
                version if old == self.password and version
                else secrets.token_hex(8))
        self.text = render(options, self.secret_version)

    def install(self):
        options = self.options
        written = []
        if self.secret_version:
            path = options['smtp-password-file']
            write_if_changed(path, secret_file_text(
                self.password, self.secret_version), 0o600)
            written.append(path)
        community = community_text(options)
        if community:
            path = options['community-file']
            write_if_changed(path, community, 0o644)
            written.append(path)
        write_if_changed(options['output'], self.text, 0o600)
        return [options['output']] + written

    update = install
