"""A SlapOS node's instance supervisor, as root, around a partition of
`make run`'s embedded SlapOS: what `slapos node instance` runs a
partition's services with, made by slapos.core's own code.

- the supervisord (slapos.grid.svcbackend: the configuration `slapos
  node` writes, its socket 0700 root's, slapos.core's watchdog as its
  event listener);
- the partition (slapos.grid.SlapObject.Partition): its programs written
  from slapos.core's own templates (`autostart=false`,
  `autorestart=false`, run as the partition's user, services named
  `-on-watch`), started as `slapos node instance` starts them, and the
  manager plugins (portredir) given it as slapgrid gives it.

Stand-in: the SlapOS master.  The partition's parameters are the
embedded SlapOS's answer (asked as the partition's user: only that user
may reach its API), and `Master` records what the watchdog posts (a
master's bang endpoint; slapos.core's proxy has none)."""
import http.server
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import urllib.parse

from slapos.grid import SlapObject, svcbackend

from slapos_re6st.lib.wait import wait_for

from .host import as_user, registry_partition, work

LOGGER = logging.getLogger('slapos-node')
COMPUTER = 'local'

# run as the partition's user: the partition's parameters as the
# embedded SlapOS (slapos proxy) answers slapos node
PARAMETERS = r"""
import json, sys
from slapos import slap
s = slap.slap()
s.initializeConnection(sys.argv[1])
partition = s.registerComputerPartition(sys.argv[2], sys.argv[3])
print(json.dumps(partition.getInstanceParameterDict()))
"""


class Master(http.server.ThreadingHTTPServer):
    """Records the bangs posted to it (`bangs`: dicts of the form)."""

    def __init__(self):
        self.bangs = []
        self.banged = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler):
                length = int(handler.headers.get('Content-Length', 0))
                form = urllib.parse.parse_qs(
                    handler.rfile.read(length).decode())
                if handler.path.rstrip('/').endswith('softwareInstanceBang'):
                    self.bangs.append({k: v[0] for k, v in form.items()})
                    self.banged.set()
                handler.send_response(200)
                handler.send_header('Content-Length', '0')
                handler.end_headers()

            def log_message(handler, *args):
                pass
        super().__init__(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%s/' % self.server_port
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


class ComputerPartition:
    """What slapgrid's Partition and its managers ask the master of a
    partition: its parameters (the embedded SlapOS's own answer)."""

    def __init__(self, parameters):
        self.parameters = parameters

    def getInstanceParameterDict(self):
        return self.parameters


def embedded_parameters(partition_id):
    """The partition's parameters as the embedded SlapOS gives them to
    slapos node."""
    result = as_user(os.path.join(work(), 'venv', 'bin', 'python'), '-c',
                     PARAMETERS, 'http://127.0.0.1:19380', COMPUTER,
                     partition_id, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Node:
    """The node's instance supervisord (root's), started; `partition` is
    slapos.core's Partition object for `make run`'s registry partition,
    its programs handed to that supervisord."""

    def __init__(self, master_url):
        self.root = tempfile.mkdtemp(prefix='re6st-node-')
        watchdog = '%s -m slapos.grid.watchdog --master-url %s' \
            ' --computer-id %s' % (sys.executable, master_url, COMPUTER)
        svcbackend.createSupervisordConfiguration(self.root, LOGGER,
                                                  watchdog_command=watchdog)
        svcbackend.launchSupervisord(self.root, LOGGER)
        self.socket = os.path.join(self.root, 'sv.sock')
        instance = registry_partition()
        partition_id = os.path.basename(instance)
        self.partition = SlapObject.Partition(
            software_path=os.path.realpath(
                os.path.join(instance, 'software_release')),
            instance_path=instance, shared_part_list='',
            build_time_part_list='',
            supervisord_partition_configuration_dir=os.path.join(
                self.root, 'etc', 'supervisord.conf.d'),
            supervisord_socket=self.socket,
            computer_partition=ComputerPartition(
                embedded_parameters(partition_id)),
            computer_id=COMPUTER, partition_id=partition_id,
            server_url=master_url, software_release_url='',
            buildout=None, logger=LOGGER)

    def supervisor(self):
        return svcbackend.getSupervisorRPC(self.socket)

    def processes(self, group=None):
        """{name: info} of the node's programs of `group` (the
        partition's by default)."""
        group = group or self.partition.partition_id
        with self.supervisor() as supervisor:
            return {info['name']: info
                    for info in supervisor.getAllProcessInfo()
                    if info['group'] == group}

    def log(self, group, info):
        """The state and the end of the output of a program."""
        name = '%s:%s' % (group, info['name'])
        with self.supervisor() as supervisor:
            info = supervisor.getProcessInfo(name)
            return '%s (%s) %r' % (info['statename'], info['description'],
                                   supervisor.tailProcessStdoutLog(
                                       name, 0, 2000)[0])

    def stop(self):
        """Stops every program and the supervisord; removes its files."""
        try:
            with self.supervisor() as supervisor:
                supervisor.stopAllProcesses()
                supervisor.shutdown()
        except Exception as e:  # not started
            LOGGER.warning('node supervisord: %s', e)
        pidfile = os.path.join(self.root, 'var', 'run', 'supervisord.pid')
        wait_for(lambda: not os.path.exists(pidfile), 30, 0.1)
        subprocess.run(['rm', '-rf', self.root])
        # the logs the node's supervisord made in the partition for the
        # programs the managers added (root's: the partition's own
        # programs' logs were there, the user's)
        instance = self.partition.instance_path
        for name in os.listdir(instance):
            path = os.path.join(instance, name)
            if name.startswith('.%s-' % self.partition.partition_id) \
                    and name.endswith('.log') and os.stat(path).st_uid == 0:
                os.remove(path)
