#!/usr/bin/python3
"""re6st-host-node install PARTITION: the host's root installs the re6st
registry's own node (its main node, lib.host_node) from what the
registry's partition published, where only root writes.

The partition (its user: anyone who takes over one of its processes)
only publishes data, in PARTITION/srv/re6st-host-node/: node.json (the
registry's URL, the run directory, the node's addresses), cert.key,
cert.crt, ca.crt.  This command reads them as data, never as code:

- each file opened without following a symbolic link, below directories
  that are no links either; a regular file of the partition directory's
  owner, of bounded size;
- each value checked: the registry's URL (http://ADDRESS:PORT/, an IP
  address), the node's addresses (IP addresses), the run directory
  (RUN_PATTERN: re6stnet deletes it on exit, so never anything else), the
  certificates and key (one PEM block each, of the expected kind);

then writes, checked whole before anything is written:

  /etc/re6st-host-node/ID/   re6stnet.conf, cert.key (0600), cert.crt,
                             ca.crt, up (the hook giving the partition's
                             group, read from the partition directory,
                             babeld's control socket in the run directory)
  /etc/systemd/system/re6stnet-ID.service
  /var/lib/re6st-host-node/ID (re6stnet's state), /var/log/re6st-host-node/ID

ID is the partition directory's name.  Nothing there names a file of the
partition: root runs none of what the partition writes, and a change there
reaches the node only when root runs this command again (after a restore
or a CA renewal: the partition's status says so).  A certificate re6stnet
renewed (same key) is kept.

Standard library only, Python >= 3.9: root copies this file once out of
the software release (`install -m 0755 FILE /usr/local/sbin/re6st-host-node`)
and runs that copy.  --root DIR puts every path above under DIR (tests).
"""
import argparse
import base64
import binascii
import ipaddress
import json
import os
import re
import shlex
import stat
import sys

PUBLISHED = ('srv', 're6st-host-node')
NODE = 'node.json'
KEY, CERT, CA = 'cert.key', 'cert.crt', 'ca.crt'
MAX_SIZE = 65536
MAX_IPS = 16
ID_PATTERN = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$')
RUN_PATTERN = re.compile(r'/(var/)?run/re6stnet(-[A-Za-z0-9_.-]{1,64})?$')
URL_PATTERN = re.compile(
    r'http://(?P<host>[0-9.]{7,15}|\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})/$')
PEM_PATTERN = re.compile(
    r'-----BEGIN (?P<kind>[A-Z ]{1,32})-----\n(?P<body>[A-Za-z0-9+/=\n]+)'
    r'-----END (?P=kind)-----\n?$')
KEY_KINDS = ('PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY')
SAFE_PATH = re.compile(r'/[A-Za-z0-9_./+-]*$')
DEFAULT_RE6STNET = '/opt/re6stnet/bin/re6stnet'

CONFIG = '''\
# re6stnet configuration of the re6st registry's own node, written by
# re6st-host-node install (do not edit: run it again).
registry %(registry)s
ca %(ca)s
cert %(cert)s
key %(key)s
# the registry's run directory: it reads babeld's control socket there
run %(run)s
state %(state)s
log %(log)s
%(ips)s
# re6stnet makes its run directory again (0700) at each start: give the
# registry's partition access to babeld's socket each time
up %(up)s
'''
HOOK = '''\
#!/bin/sh
# Written by re6st-host-node install: run as root by re6stnet (up) after
# each start of the registry's node: the registry's partition (group %(gid)s)
# may read babeld's control socket in %(run)s.  Never fails (re6stnet would
# stop).
run=%(run)s gid=%(gid)s i=0
while [ ! -S "$run/babeld.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
chgrp "$gid" "$run" "$run/babeld.sock" && chmod g+x "$run" && chmod g+rw "$run/babeld.sock"
exit 0
'''
UNIT = '''\
# systemd unit of the re6st registry's own node, written by
# re6st-host-node install (do not edit: run it again).
[Unit]
Description=re6st registry's own node (%(id)s)
After=network-online.target

[Service]
ExecStart=%(re6stnet)s @%(conf)s
Restart=always

[Install]
WantedBy=multi-user.target
'''


class Refused(Exception):
    """What the partition published (or the command line) cannot be used:
    one sentence saying what is wrong and what to change."""


# -- reading what the partition published, as data -----------------------

def partition_directory(path):
    """(real path, owner's uid, group's gid, ID) of the partition."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as e:
        raise Refused('%s cannot be read (%s): give the path of the'
                      " registry's partition." % (path, e.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise Refused("%s is not a directory: give the path of the registry's"
                      ' partition.' % path)
    if st.st_uid == 0:
        raise Refused("%s is root's: give the path of the registry's"
                      ' partition (its own user\'s directory).' % path)
    name = os.path.basename(real)
    if not ID_PATTERN.match(name):
        raise Refused('The partition directory\'s name %r is not a plain name'
                      ' (letters, digits, "_.-"): give its real path.' % name)
    return real, st.st_uid, st.st_gid, name


def read_published(partition, owner, name):
    """The bytes of PARTITION/srv/re6st-host-node/`name`, checked: no
    symbolic link on the way, a regular file of `owner`, bounded."""
    where = os.path.join(partition, *PUBLISHED + (name,))
    fds = []
    try:
        fd = os.open(partition, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(fd)
        for part in PUBLISHED:
            fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                         dir_fd=fd)
            fds.append(fd)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK,
                     dir_fd=fd)
        fds.append(fd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused('%s is not a regular file: run the registry\'s'
                          ' instance again (it publishes it).' % where)
        if st.st_uid != owner:
            raise Refused("%s is not the partition's (uid %s, not %s): run the"
                          " registry's instance again (it publishes it)."
                          % (where, st.st_uid, owner))
        data = os.read(fd, MAX_SIZE + 1)
        if len(data) > MAX_SIZE:
            raise Refused('%s is larger than %s bytes: run the registry\'s'
                          ' instance again (it publishes it).'
                          % (where, MAX_SIZE))
        return data
    except OSError as e:
        raise Refused('%s cannot be read safely (%s; a symbolic link on the'
                      ' way is refused): run the registry\'s instance again'
                      ' (it publishes it).' % (where, e.strerror))
    finally:
        for fd in reversed(fds):
            os.close(fd)


def check_url(value):
    match = URL_PATTERN.match(value) if isinstance(value, str) else None
    try:
        if match:
            ipaddress.ip_address(match.group('host').strip('[]'))
            if 0 < int(match.group('port')) < 65536:
                return value
    except ValueError:
        pass
    raise Refused('node.json: registry %r is not http://ADDRESS:PORT/ (an IP'
                  ' address): run the registry\'s instance again.' % (value,))


def check_run(value):
    if isinstance(value, str) and RUN_PATTERN.match(value):
        return value
    raise Refused('node.json: run %r is not /run/re6stnet or'
                  ' /run/re6stnet-NAME (re6stnet deletes its run directory on'
                  ' exit): set host-node-run so and run the registry\'s'
                  ' instance again.' % (value,))


def check_ips(value):
    if not isinstance(value, list) or not 0 < len(value) <= MAX_IPS:
        raise Refused('node.json: ips must list 1 to %s IP addresses: set'
                      ' host-node-ip and run the registry\'s instance again.'
                      % MAX_IPS)
    ips = []
    for ip in value:
        try:
            ips.append(str(ipaddress.ip_address(ip)))
        except (TypeError, ValueError):
            raise Refused('node.json: %r is not an IP address: set'
                          ' host-node-ip and run the registry\'s instance'
                          ' again.' % (ip,))
    return ips


def check_pem(name, data, kinds):
    """`data` if it is one PEM block of one of `kinds`."""
    try:
        text = data.decode('ascii')
    except UnicodeDecodeError:
        text = ''
    match = PEM_PATTERN.match(text)
    if match and match.group('kind') in kinds:
        try:
            base64.b64decode(match.group('body').replace('\n', ''),
                             validate=True)
            return data
        except (binascii.Error, ValueError):
            pass
    raise Refused('%s is not one PEM block of %s: run the registry\'s'
                  ' instance again (it publishes it).' % (
                      name, ' or '.join(kinds)))


def read_node(partition, owner):
    """What the partition published, checked: {registry, run, ips, key,
    cert, ca}."""
    try:
        node = json.loads(read_published(partition, owner, NODE))
    except ValueError:
        raise Refused('%s is not JSON: run the registry\'s instance again.'
                      % os.path.join(partition, *PUBLISHED + (NODE,)))
    if not isinstance(node, dict):
        raise Refused('node.json is not a JSON object: run the registry\'s'
                      ' instance again.')
    return {
        'registry': check_url(node.get('registry')),
        'run': check_run(node.get('run')),
        'ips': check_ips(node.get('ips')),
        'key': check_pem(KEY, read_published(partition, owner, KEY),
                         KEY_KINDS),
        'cert': check_pem(CERT, read_published(partition, owner, CERT),
                          ('CERTIFICATE',)),
        'ca': check_pem(CA, read_published(partition, owner, CA),
                        ('CERTIFICATE',)),
    }


# -- writing where only root writes ----------------------------------------

def paths(root, id):
    """Where the node of partition `id` is installed (under `root`)."""
    etc = os.path.join(root, 'etc', 're6st-host-node', id)
    return {
        'etc': etc, 'conf': os.path.join(etc, 're6stnet.conf'),
        'key': os.path.join(etc, KEY), 'cert': os.path.join(etc, CERT),
        'ca': os.path.join(etc, CA), 'up': os.path.join(etc, 'up'),
        'unit': os.path.join(root, 'etc', 'systemd', 'system',
                             're6stnet-%s.service' % id),
        'state': os.path.join(root, 'var', 'lib', 're6st-host-node', id),
        'log': os.path.join(root, 'var', 'log', 're6st-host-node', id),
    }


def safe_directory(path, mode=0o755):
    """`path` made if missing (with its parents); each existing level
    owned by this user or root and writable by no one else, no link."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = os.sep
    for part in parts:
        current = os.path.join(current, part)
        try:
            os.mkdir(current, mode)
        except FileExistsError:
            pass
        st = os.lstat(current)
        if (not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, os.geteuid())
                or st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise Refused('%s is not a directory only root (or this user)'
                          ' writes: fix it, then run this command again.'
                          % current)


def write(path, data, mode):
    """`data` in `path`, atomically, with `mode` from the start."""
    if isinstance(data, str):
        data = data.encode()
    tmp = '%s.%s.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 mode)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def check_local_path(name, path, partition, owner):
    """`path` (given by root) neither in the partition nor, when this runs
    for another user's partition, where the partition's user owns any
    level of it, as given or resolved (that user could change it)."""
    if not SAFE_PATH.match(path) or not os.path.isabs(path):
        raise Refused('%s %r is not an absolute path of plain characters:'
                      ' give another.' % (name, path))
    for candidate in os.path.normpath(path), os.path.realpath(path):
        if candidate == partition or candidate.startswith(
                partition + os.sep):
            raise Refused("%s %s is in the partition, which its user writes:"
                          ' install it where only root writes.'
                          % (name, path))
        if owner == os.geteuid():
            continue  # no other user to fear
        level = candidate
        while True:
            try:
                if os.lstat(level).st_uid == owner:
                    raise Refused("%s %s is the partition's user's (%s):"
                                  ' install it where only root writes.'
                                  % (name, path, level))
            except FileNotFoundError:
                pass
            if level == os.sep:
                break
            level = os.path.dirname(level)


def install(partition_path, root='/', re6stnet=DEFAULT_RE6STNET):
    """Install the node of the partition at `partition_path`: the paths
    written (paths()).  Refused (nothing written) if anything published
    is wrong."""
    partition, owner, gid, id = partition_directory(partition_path)
    root = os.path.abspath(root)
    check_local_path('--root', root, partition, owner)
    check_local_path('--re6stnet', re6stnet, partition, owner)
    if not os.access(re6stnet, os.X_OK):
        raise Refused('%s is not an executable: install re6stnet there'
                      ' (see host-node-commands), or give --re6stnet.'
                      % re6stnet)
    node = read_node(partition, owner)
    where = paths(root, id)
    for name in 'etc', 'state', 'log':
        safe_directory(where[name])
    safe_directory(os.path.dirname(where['unit']))
    # a certificate re6stnet renewed (same key, same CA) stays
    if read(where['key']) != node['key'] or read(where['cert']) is None \
            or read(where['ca']) != node['ca']:
        write(where['cert'], node['cert'], 0o644)
    write(where['key'], node['key'], 0o600)
    write(where['ca'], node['ca'], 0o644)
    write(where['up'], HOOK % {'run': shlex.quote(node['run']), 'gid': gid},
          0o755)
    write(where['conf'], CONFIG % {
        'registry': node['registry'], 'ca': where['ca'],
        'cert': where['cert'], 'key': where['key'], 'run': node['run'],
        'state': where['state'], 'log': where['log'],
        'ips': '\n'.join('ip %s' % ip for ip in node['ips']),
        'up': where['up']}, 0o644)
    write(where['unit'], UNIT % {'id': id, 're6stnet': re6stnet,
                                 'conf': where['conf']}, 0o644)
    return where


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-host-node', description='Install the re6st registry\'s'
        ' own node from what its partition published, where only root'
        ' writes (see the top of this file).')
    commands = parser.add_subparsers(dest='command', required=True)
    command = commands.add_parser('install', help='install (again: after a'
                                  ' restore or a CA renewal) the node of'
                                  ' PARTITION')
    command.add_argument('partition', help="the registry's partition"
                         ' directory')
    command.add_argument('--re6stnet', default=DEFAULT_RE6STNET,
                         help='re6stnet, installed where only root writes'
                         ' (default: %(default)s)')
    command.add_argument('--root', default='/', help='install under this'
                         ' directory instead of / (tests)')
    args = parser.parse_args(argv)
    try:
        where = install(args.partition, args.root, args.re6stnet)
    except Refused as e:
        print('re6st-host-node: %s' % e, file=sys.stderr)
        return 1
    unit = os.path.basename(where['unit'])
    print('Installed the node in %s and %s; start it with `systemctl'
          ' daemon-reload && systemctl enable --now %s` (`systemctl restart'
          ' %s` if it runs).' % (where['etc'], where['unit'], unit, unit))
    return 0


if __name__ == '__main__':
    sys.exit(main())
