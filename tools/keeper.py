"""re6st-keeper: on `make run`'s embedded SlapOS, what a SlapOS node's
watchdog and its periodic `slapos node instance` do for the partitions'
services, which nothing does there (the embedded SlapOS's `watchdog` is
FATAL: slapos.core hard-codes its path; and no instance run comes by
itself).

slapos.core writes every partition program `autostart=false`,
`autorestart=false`: a launcher killed (kill -9, the OOM killer) stays
EXITED, and a partition supervisord killed (the embedded SlapOS's own
supervisor starts it again) starts none of them.  The keeper is a program
of that partition supervisord (`autostart`, `autorestart`: it comes back
with it, and after its own death), and every PERIOD seconds starts again
each program of a partition that

- exited or could not be started (EXITED, FATAL), or
- was never started by this supervisord (STOPPED, "Not started"): the
  supervisord was started again;

never while `slapos node instance` runs (it starts them itself), at most
MAX_STARTS times in WINDOW seconds for one program, each start logged
with what the program was.  A program stopped on purpose (STOPPED after
a start: `supervisorctl stop`) is left alone; a partition that is not
started has no program there (slapos removes it).

install() (`make run`, the tests) adds it to the partition supervisord of
an embedded SlapOS; uninstall() removes it.
"""
import argparse
import collections
import os
import sys
import time
import xmlrpc.client

NAME = 're6st-keeper'
PERIOD = 1.0
MAX_STARTS = 5
WINDOW = 300.0
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """\
# written by tools/keeper.py (make run): see its docstring
[program:{name}]
command = {python} -m tools.keeper --instance-root {instance_root} --busy-pidfile {busy}
directory = {checkout}
autostart = true
autorestart = true
startsecs = 0
startretries = 1000
stopwaitsecs = 10
redirect_stderr = true
stdout_logfile = {instance_root}/var/log/{name}.log
stdout_logfile_maxbytes = 1MB
stdout_logfile_backups = 1
environment = PYTHONDONTWRITEBYTECODE="1"
"""


def log(message):
    print('%s %s: %s' % (time.strftime('%Y-%m-%d %H:%M:%S'), NAME, message),
          flush=True)


def config_path(instance_root):
    return os.path.join(instance_root, 'etc', 'supervisord.conf.d',
                        NAME + '.conf')


def install(slap, python=sys.executable, checkout=HERE):
    """Run the keeper under the partition supervisord of `slap` (a
    StandaloneSlapOS whose partitions are formatted); idempotent."""
    root = slap.instance_directory
    # slapos node instance's PID file while it runs
    busy = slap._instance_pid
    text = CONFIG.format(name=NAME, python=python, instance_root=root,
                         busy=busy, checkout=checkout)
    path = config_path(root)
    try:
        with open(path) as f:
            same = f.read() == text
    except FileNotFoundError:
        same = False
    if not same:
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.rename(path + '.tmp', path)
    with slap.instance_supervisor_rpc as supervisor:
        added, changed, _ = supervisor.reloadConfig()[0]
        if NAME in changed:
            supervisor.stopProcessGroup(NAME)
            supervisor.removeProcessGroup(NAME)
        if NAME in added or NAME in changed:
            supervisor.addProcessGroup(NAME)
        if supervisor.getProcessInfo(NAME)['statename'] not in (
                'RUNNING', 'STARTING'):
            supervisor.startProcess(NAME, False)


def uninstall(slap):
    """Remove the keeper from the partition supervisord of `slap`."""
    try:
        os.unlink(config_path(slap.instance_directory))
    except FileNotFoundError:
        return
    with slap.instance_supervisor_rpc as supervisor:
        _, _, removed = supervisor.reloadConfig()[0]
        if NAME in removed:
            supervisor.stopProcessGroup(NAME)
            supervisor.removeProcessGroup(NAME)


def instance_run_in_progress(pidfile):
    """Whether `slapos node instance` runs (its PID file names a live
    process)."""
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def to_start(info, partitions):
    """Why the program of `info` (getAllProcessInfo) must be started
    again, or None."""
    if info['group'] not in partitions:
        return None
    state = info['statename']
    if state == 'EXITED':
        return 'it exited, status %s' % info['exitstatus']
    if state == 'FATAL':
        return 'it could not be started: %s' % info['spawnerr']
    if state == 'STOPPED' and not info['start']:
        return 'not started by this supervisord'
    return None


class Keeper:

    def __init__(self, supervisor, instance_root, busy_pidfile,
                 max_starts=MAX_STARTS, window=WINDOW, clock=time.monotonic):
        self.supervisor = supervisor
        self.instance_root = instance_root
        self.busy_pidfile = busy_pidfile
        self.max_starts = max_starts
        self.window = window
        self.clock = clock
        self.starts = collections.defaultdict(list)
        self.given_up = set()

    def partitions(self):
        return {name for name in os.listdir(self.instance_root)
                if os.path.isdir(os.path.join(self.instance_root, name))}

    def check(self):
        """Start what must be started again; the names started."""
        if instance_run_in_progress(self.busy_pidfile):
            return []
        started = []
        partitions = self.partitions()
        now = self.clock()
        for info in self.supervisor.getAllProcessInfo():
            reason = to_start(info, partitions)
            if reason is None:
                continue
            name = '%s:%s' % (info['group'], info['name'])
            starts = self.starts[name] = [
                t for t in self.starts[name] if now - t < self.window]
            if len(starts) >= self.max_starts:
                if name not in self.given_up:
                    self.given_up.add(name)
                    log('%s (%s) started %s times in %s s: left as it is'
                        ' until then' % (name, reason, len(starts),
                                         int(self.window)))
                continue
            self.given_up.discard(name)
            starts.append(now)
            try:
                self.supervisor.startProcess(name, False)
            except xmlrpc.client.Fault as e:
                log('%s (%s) could not be started: %s' % (
                    name, reason, e.faultString))
            else:
                log('started %s again (%s)' % (name, reason))
                started.append(name)
        return started


def main(argv=None):
    from supervisor import childutils

    from slapos_re6st.lib import process
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--instance-root', required=True)
    parser.add_argument('--busy-pidfile', required=True,
                        help="slapos node instance's PID file")
    args = parser.parse_args(argv)
    parent = os.getppid()
    # one keeper per supervisord: it ends with the one that started it
    process.die_with_parent()
    supervisor = childutils.getRPCInterface(os.environ).supervisor
    keeper = Keeper(supervisor, args.instance_root, args.busy_pidfile)
    log('watching the programs of the partitions of %s' % args.instance_root)
    while os.getppid() == parent:
        try:
            keeper.check()
        except (OSError, xmlrpc.client.Error) as e:
            log('supervisord did not answer (%s)' % e)
        time.sleep(PERIOD)
    return 0


if __name__ == '__main__':
    sys.exit(main())
