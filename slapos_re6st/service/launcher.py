"""How re6st-service runs one service of the partition, restarting it
when needed (the command: slapos_re6st.cli.service).

slapos node runs each etc/service/ wrapper under the partition's supervisor
with autorestart off, in one supervisor group per partition: renaming a
wrapper (as hash-files does) changes the group, and supervisor then restarts
every service of the partition.  This launcher keeps each wrapper's name,
and so the group, stable:

- the command crashes or exits: it is started again after RESTART_DELAY
  seconds (a crashed registry is back within seconds, not at the next
  instance run);
- a watched file (the service's configuration) or the wrapper itself
  changes: once the change is over (the same at two checks in a row, and
  every watched file and the wrapper present, or missing for more than
  SETTLE_LIMIT seconds: gone for good), the command is stopped
  and the wrapper executed again in place (same PID for supervisor), so
  that a new command line takes effect too.  Until then the command keeps
  running: buildout removes the files of every part it installs again
  (a software release update, a changed option) and writes them back
  later in the same run; executing the wrapper in between would end the
  launcher, and supervisor would not start it again (the service would
  be down until the next instance run).  If the new wrapper cannot be
  run, the command runs on as before (slapos_re6st.cli.service);
- SIGTERM/SIGINT: the command is stopped and the launcher exits;
- SIGHUP/SIGUSR1/SIGUSR2: passed on to the command (e.g. to reopen logs);
- the launcher's parent (supervisord) dies, even by SIGKILL: the launcher
  is sent SIGTERM (PR_SET_PDEATHSIG) and stops its command; the launcher
  dies, even by SIGKILL: its command is sent SIGTERM the same way; and a
  command still running from a killed launcher (the PID in --pidfile,
  the same command line) is stopped before the new one starts.  Whatever
  is killed, the next start leaves one of each service, holding no port
  twice.

The command's PID is written to --pidfile, with its command line and the
digest of each watched file it was started with.
"""
import dataclasses
import signal
import subprocess
import sys
import time

from ..lib import files, process

CHECK_PERIOD = 0.5
RESTART_DELAY = 1.0
# A change that leaves a watched file missing is taken once it has lasted
# this many seconds (the file is gone for good, not for a buildout run).
SETTLE_LIMIT = 30.0
STOP_TIMEOUT = 30.0
FORWARDED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def digest(paths):
    """What the watched files hold now (a missing file counts too)."""
    return files.fingerprints(paths)


def log(message):
    print('re6st-service: %s' % message, file=sys.stderr, flush=True)


def stop(child):
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@dataclasses.dataclass
class Launcher:
    """Runs `command`, watching the files `watch`, its PID in `pidfile`."""
    command: list
    watch: list
    pidfile: str
    check_period: float = CHECK_PERIOD
    restart_delay: float = RESTART_DELAY
    settle_limit: float = SETTLE_LIMIT
    child: subprocess.Popen = dataclasses.field(default=None, init=False)
    stopping: bool = dataclasses.field(default=False, init=False)

    def start(self):
        # what it starts with, for whoever asks whether it runs with the
        # files as they are now (the registry's promise)
        started_with = digest(self.watch)
        # the command never outlives this launcher, even killed (SIGKILL):
        # no orphan holds the service's port or files
        self.child = subprocess.Popen(self.command,
                                      preexec_fn=process.die_with_parent)
        process.write_pidfile(self.pidfile, self.child.pid, self.command,
                              started_with)

    def on_signal(self, signum, frame):
        if signum in FORWARDED:
            if self.child and self.child.poll() is None:
                self.child.send_signal(signum)
        else:
            self.stopping = True

    def run(self, max_checks=None):
        """Returns 'stop' (asked to stop) or 'changed' (a watched file
        changed); the command is stopped either way."""
        for signum in (signal.SIGTERM, signal.SIGINT) + FORWARDED:
            signal.signal(signum, self.on_signal)
        stale = process.stop_stale(self.pidfile, self.command)
        if stale:
            log('stopped %s (PID %s), left running by a launcher that was'
                ' killed' % (self.command[0], stale))
        seen = digest(self.watch)
        self.start()
        checks = 0
        changing = since = None  # a change not over yet, and since when

        def changed(now):
            return ', '.join(path for path in self.watch
                             if now[path] != seen[path])
        while not self.stopping:
            time.sleep(self.check_period)
            checks += 1
            if max_checks is not None and checks > max_checks:
                self.stopping = True
                break
            now = digest(self.watch)
            if now != seen:
                if now != changing:
                    if changing is None:
                        log('%s changed: restarting once the change is'
                            ' over' % changed(now))
                    changing, since = now, time.monotonic()
                elif None not in now.values() or \
                        time.monotonic() - since > self.settle_limit:
                    log('restarting with the new %s' % changed(now))
                    stop(self.child)
                    return 'changed'
                continue  # the command keeps running meanwhile
            changing = None
            if self.child.poll() is not None:
                log('%s exited with %s: starting it again in %s s' % (
                    self.command[0], self.child.returncode,
                    self.restart_delay))
                time.sleep(self.restart_delay)
                if not self.stopping and digest(self.watch) == seen:
                    self.start()
                # else: started again as the files say, once they settle
        stop(self.child)
        return 'stop'
