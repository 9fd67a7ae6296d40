"""The re6st-registry configuration file (read with `re6st-registry @FILE`):
its text for the partition's options (render), and how re6st-registry
itself reads it (parse, from re6st_adapter, which runs re6st's parser).

The registry listens on the partition's IPv4 only (its IPv6 side is
disabled): the public reaches it through the forward, whose connections
come from an address the registry does not trust.

The configuration is one "option value" line per re6st-registry option
(re6st.utils.ArgParser); a line "@FILE" includes another file, which is how
the SMTP password, the only secret, reaches the registry: from a file of
mode 0600 that no option value of buildout names the content of.  The main
file holds, as comments, what else its service depends on (the community
file's digest, the GeoIP2 database, a random version of the secret), so
that it changes, and re6st-service restarts the registry, whenever any of
them changes.  (The service watches the CA certificate itself: a renewed
or restored CA restarts the registry at once.)
"""
import hashlib
import ipaddress
import json
import secrets
import os
import shlex
import tempfile

from . import files
# re6st-registry's own parser, run by the adapter
from .re6st_adapter import Refused, parse  # noqa: F401

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
    password = version = None
    for text_line in files.read(path, '').splitlines():
        if text_line.startswith(SECRET_VERSION):
            version = text_line[len(SECRET_VERSION):].strip()
        elif text_line.startswith('smtp-pwd '):
            value = shlex.split(text_line)[1:]
            password = value[0] if len(value) == 1 else None
    return password, version


def secret_version(path, password):
    """The version to write with `password` into the secret file at
    `path`: the file's own if it holds that password already, else a new
    random one (so that the configuration, which names it, changes with
    the password, and no hash of the password appears anywhere)."""
    old, version = read_secret_file(path)
    return version if old == password and version else secrets.token_hex(8)


def render(options, secret_version=None):
    """The configuration file's text for the recipe's options.
    `secret_version`: that of the SMTP password file, included when set."""
    lines = ['# Written by slapos_re6st:registry-config; do not edit.']
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


def parse_text(text, includes=()):
    """parse() of a configuration not written yet: its `text`, and the
    files it includes (@FILE lines) as {path: text}."""
    with tempfile.TemporaryDirectory() as directory:
        lines = []
        for n, text_line in enumerate(text.splitlines()):
            path = text_line[1:] if text_line.startswith('@') else None
            if path in dict(includes):
                copy = os.path.join(directory, 'include-%s' % n)
                files.write(copy, dict(includes)[path], 0o600)
                text_line = '@' + copy
            lines.append(text_line)
        config = os.path.join(directory, 'registry.conf')
        files.write(config, '\n'.join(lines) + '\n', 0o600)
        return parse(config)
