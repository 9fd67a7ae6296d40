"""The registry's own re6st node (lib.host_node): its key (made once,
0600), its re6stnet configuration and the files the host's root needs,
what root runs (commands), and how it is doing (status), each run.  Its
certificate is the registry's first: re6st-registry-service makes it at
the registry's first start, before it serves anyone."""
import grp
import importlib.metadata
import os
import shlex

from ..lib import files, host_node
from . import require

CONFIG = '''\
# re6stnet configuration of the re6st registry's own node (written by
# slapos_re6st:host-node; do not edit).  As root: re6stnet @%(conf)s
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
GRANT = '''\
#!/bin/sh
# Written by slapos_re6st:host-node: run as root by re6stnet (up) after
# each start of the registry's node: the registry's partition (group GID)
# may read babeld's control socket in RUN.  Never fails (re6stnet would
# stop).
run=$1 gid=$2 i=0
while [ ! -S "$run/babeld.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
chgrp "$gid" "$run" "$run/babeld.sock" && chmod g+x "$run" && chmod g+rw "$run/babeld.sock"
exit 0
'''
UNIT = '''\
# systemd unit of the re6st registry's own node (written by
# slapos_re6st:host-node): install it as root in /etc/systemd/system/
[Unit]
Description=re6st registry's own node (%(partition)s)
After=network-online.target

[Service]
ExecStart=%(re6stnet)s @%(conf)s
Restart=always

[Install]
WantedBy=multi-user.target
'''
COMMANDS = '''\
As root on this host, once: install re6stnet %(re6stnet)s (python3 -m venv \
/opt/re6stnet && /opt/re6stnet/bin/pip install %(pins)s), Nexedi's \
babeld (re6stnet's documentation: the babeld fork with its -X control \
socket; Debian's babeld lacks it) and OpenVPN \
(apt-get install openvpn); then run the node, \
`/opt/re6stnet/bin/re6stnet @%(conf)s`, or as a service: `cp %(unit)s \
/etc/systemd/system/ && systemctl daemon-reload && systemctl enable --now \
%(unit_name)s`.  The files stay in %(directory)s (the node renews its \
certificate there).  One re6st network per host (UDP port 326).'''


# What root's re6stnet installs: the versions the release runs (software.cfg
# pins them; read from the installed eggs, never written here).
PINNED = ('re6stnet', 'pyOpenSSL')


def pins():
    """{name: version} of PINNED as installed."""
    return {name: importlib.metadata.version(name) for name in PINNED}


class Recipe:
    """Options: directory, registry-url, registry-db, ca (the CA
    certificate), run (the node's and registry's run directory), ips (the
    addresses other nodes reach it at, whitespace separated; empty: those
    of default-ips), grace-period, partition (the partition's id, for
    names).  Sets: status, commands, start (the command root runs)."""

    def __init__(self, buildout, name, options):
        require(name, options, 'directory', 'registry-url', 'registry-db',
                'ca', 'run', 'grace-period', 'partition')
        self.options = options
        self.ips = (options.get('ips', '').split()
                    or options.get('default-ips', '').split())
        directory = options['directory']
        conf = os.path.join(directory, host_node.CONF)
        self.unit_name = 're6stnet-%s.service' % options['partition']
        self.paths = {
            'conf': conf, 'unit': os.path.join(directory, self.unit_name),
            'grant': os.path.join(directory, 'grant-babeld-sock')}
        ok, status = host_node.status(
            options['registry-db'], directory, options['run'],
            int(options['grace-period']))
        options['status'] = status
        options['start'] = host_node.start_command(directory)
        versions = pins()
        options['commands'] = COMMANDS % dict(
            self.paths, directory=directory, unit_name=self.unit_name,
            re6stnet=versions['re6stnet'], pins=' '.join(
                '%s==%s' % item for item in versions.items()))

    def install(self):
        options = self.options
        directory = options['directory']
        paths = self.paths
        os.makedirs(directory, mode=0o700, exist_ok=True)
        host_node.ensure_key(os.path.join(directory, host_node.KEY))
        files.write_if_changed(paths['conf'], CONFIG % {
            'conf': paths['conf'], 'registry': options['registry-url'],
            'ca': os.path.join(directory, host_node.CA),
            'cert': os.path.join(directory, host_node.CERT),
            'key': os.path.join(directory, host_node.KEY),
            'run': options['run'],
            'state': os.path.join(directory, 'state'),
            'log': os.path.join(directory, 'log'),
            'ips': '\n'.join('ip %s' % ip for ip in self.ips),
            'up': shlex.quote('%s %s %s || true' % (
                paths['grant'], shlex.quote(options['run']),
                grp.getgrgid(os.getgid()).gr_name))}, 0o644)
        files.write_if_changed(paths['grant'], GRANT, 0o755)
        files.write_if_changed(paths['unit'], UNIT % {
            'partition': options['partition'], 'conf': paths['conf'],
            're6stnet': '/opt/re6stnet/bin/re6stnet'}, 0o644)
        return list(paths.values())

    update = install
