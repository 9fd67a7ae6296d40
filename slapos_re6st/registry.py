"""The re6st-registry configuration file (read with `re6st-registry @FILE`).

The registry listens on the partition's IPv4 only (its IPv6 side is
disabled): the public reaches it through the forward, whose connections
come from an address the registry does not trust.
"""
import ipaddress
import os
import shlex

import zc.buildout

# re6st always trusts these (its --authorized-origin only appends).
ALWAYS_TRUSTED = ('127.0.0.1', '::1')
# (re6st-registry option, recipe option), in the order written.
OPTIONS = (
    ('port', 'port'), ('4', 'ipv4'), ('db', 'db'), ('ca', 'ca'),
    ('key', 'key'), ('dh', 'dh'), ('prefix-length', 'prefix-length'),
    ('logfile', 'logfile'), ('run', 'run'),
)


def forward_source(trusted):
    """A loopback address, not in `trusted`, for the forward to connect
    from: the registry then refuses every private RPC that comes through
    it, whatever the client's own address."""
    network = ipaddress.IPv4Network('127.0.0.0/8')
    trusted = set(trusted)
    for address in network.hosts():
        if str(address) not in trusted and str(address) != '127.0.0.1':
            return str(address)


def render(options):
    """The configuration file's text for the recipe's options."""
    lines = ['# Written by slapos_re6st:registry-config; do not edit.']
    for arg, key in OPTIONS:
        lines.append('%s %s' % (arg, shlex.quote(options[key])))
    lines.append("6 ''")  # no IPv6 listener: the forward is the public side
    for origin in options.get('authorized-origin', '').split():
        lines.append('authorized-origin %s' % shlex.quote(origin))
    return '\n'.join(lines) + '\n'


def write_if_changed(path, text):
    """Write `text` to `path` unless it already holds it; True if written."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)
    return True


class Recipe:
    """Options: output, and port, ipv4, db, ca, key, dh, prefix-length,
    logfile, run, authorized-origin (space separated).
    Sets: forward-source (where the public forward connects from)."""

    def __init__(self, buildout, name, options):
        missing = [key for _, key in OPTIONS if not options.get(key)]
        if missing or not options.get('output'):
            raise zc.buildout.UserError('[%s] needs the options %s.' % (
                name, ', '.join(missing + ['output'])))
        self.options = options
        trusted = ALWAYS_TRUSTED + tuple(
            options.get('authorized-origin', '').split())
        options['forward-source'] = forward_source(trusted)

    def install(self):
        write_if_changed(self.options['output'], render(self.options))
        return [self.options['output']]

    def update(self):
        write_if_changed(self.options['output'], render(self.options))
