"""The registry's own re6st node (lib.host_node): its key (made once,
0600) and what the host's root installs it from, as data only
(node.json: the registry's URL, the run directory, the node's addresses),
what root runs (commands), and how it is doing (status), each run.  Its
certificate is the registry's first: re6st-registry-service makes it at
the registry's first start, before it serves anyone.

Root never runs a file of the partition: its own tool
(slapos_re6st/root/re6st_host_node.py, copied once out of the software
release) reads what is published here, checks it, and writes the node's
configuration, hook and unit where only root writes."""
import glob
import importlib.metadata
import json
import os

from ..lib import files, host_node
from . import require

# the tool root copies once, out of the software release
TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'root', 're6st_host_node.py')
COMMANDS = '''\
As root on this host, once: install re6stnet %(re6stnet)s where only root \
writes (python3 -m venv /opt/re6stnet && /opt/re6stnet/bin/pip install \
%(pins)s), Nexedi's babeld (re6stnet's \
documentation: the babeld fork with its -X control socket; Debian's babeld \
lacks it), OpenVPN (apt-get install openvpn) and the release's root tool \
(standard library only: read it first), `install -o root -g root -m 0755 \
%(tool)s /usr/local/sbin/re6st-host-node`.  Then, and again after a restore \
or a CA renewal: `%(install)s` (it checks what this partition published in \
%(directory)s, as data, and writes the node's configuration, hook and unit \
where only root writes: %(etc)s, %(unit_path)s), then `systemctl \
daemon-reload && systemctl enable --now %(unit)s` (`systemctl restart \
%(unit)s` after a re-install).  Root runs no file of the partition.  One \
re6st network per host (UDP port 326).'''
# What root's re6stnet installs: the versions the release runs (software.cfg
# pins them; read from the installed eggs, never written here).
PINNED = ('re6stnet', 'pyOpenSSL')
# what the previous layout wrote here, for root to run: gone
LEGACY = ('re6stnet.conf', 'grant-babeld-sock', 're6stnet-*.service')


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
        ok, status = host_node.status(
            options['registry-db'], directory, options['run'],
            int(options['grace-period']))
        options['status'] = status
        options['start'] = host_node.start_command(directory)
        unit = host_node.unit_name(directory)
        versions = pins()
        options['commands'] = COMMANDS % {
            're6stnet': versions['re6stnet'], 'pins': ' '.join(
                '%s==%s' % item for item in versions.items()),
            'tool': TOOL, 'install': options['start'], 'directory': directory,
            'etc': '/etc/re6st-host-node/%s/' % host_node.node_id(directory),
            'unit_path': '/etc/systemd/system/' + unit, 'unit': unit}

    def install(self):
        options = self.options
        directory = options['directory']
        os.makedirs(directory, mode=0o700, exist_ok=True)
        host_node.ensure_key(os.path.join(directory, host_node.KEY))
        node = os.path.join(directory, host_node.NODE)
        files.write_if_changed(node, json.dumps({
            'registry': options['registry-url'], 'run': options['run'],
            'ips': self.ips}, indent=2, sort_keys=True) + '\n', 0o644)
        for pattern in LEGACY:
            for path in glob.glob(os.path.join(directory, pattern)):
                os.unlink(path)
        return [node]

    update = install
