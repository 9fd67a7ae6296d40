"""re6st-service: run one service of the partition, restarting it when needed.

    re6st-service --wrapper PATH --pidfile PATH [--watch FILE ...] -- COMMAND...

slapos node runs each etc/service/ wrapper under the partition's supervisor
with autorestart off, in one supervisor group per partition: renaming a
wrapper (as hash-files does) changes the group, and supervisor then restarts
every service of the partition.  This launcher keeps each wrapper's name,
and so the group, stable:

- the command crashes or exits: it is started again after RESTART_DELAY
  seconds (a crashed registry is back within seconds, not at the next
  instance run);
- a watched file (the service's configuration) or the wrapper itself
  changes: the command is stopped and the wrapper executed again in place
  (same PID for supervisor), so that a new command line takes effect too;
- SIGTERM/SIGINT: the command is stopped and the launcher exits;
- SIGHUP/SIGUSR1/SIGUSR2: passed on to the command (e.g. to reopen logs).

The command's PID is written to --pidfile.
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time

CHECK_PERIOD = 1.0
RESTART_DELAY = 1.0
STOP_TIMEOUT = 30.0
FORWARDED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


def digest(paths):
    """What the watched files hold now (a missing file counts too)."""
    h = hashlib.sha256()
    for path in paths:
        try:
            with open(path, 'rb') as f:
                h.update(f.read())
        except FileNotFoundError:
            h.update(b'\0missing')
        h.update(b'\0')
    return h.hexdigest()


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


class Launcher:

    def __init__(self, command, watch, pidfile):
        self.command = command
        self.watch = watch
        self.pidfile = pidfile
        self.child = None
        self.stopping = False

    def start(self):
        self.child = subprocess.Popen(self.command)
        tmp = self.pidfile + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%s\n' % self.child.pid)
        os.replace(tmp, self.pidfile)

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
        seen = digest(self.watch)
        self.start()
        checks = 0
        while not self.stopping:
            time.sleep(CHECK_PERIOD)
            checks += 1
            if max_checks is not None and checks > max_checks:
                self.stopping = True
                break
            if digest(self.watch) != seen:
                log('%s changed: restarting' % ', '.join(self.watch))
                stop(self.child)
                return 'changed'
            if self.child.poll() is not None:
                log('%s exited with %s: starting it again in %s s' % (
                    self.command[0], self.child.returncode, RESTART_DELAY))
                time.sleep(RESTART_DELAY)
                if not self.stopping:
                    self.start()
        stop(self.child)
        return 'stop'


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage='%(prog)s --wrapper PATH --pidfile PATH [--watch FILE ...]'
              ' -- COMMAND...')
    parser.add_argument('--wrapper', required=True,
                        help='the etc/service wrapper that runs this')
    parser.add_argument('--pidfile', required=True)
    parser.add_argument('--watch', action='append', default=[],
                        help='restart the command when this file changes')
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not command:
        parser.error('give the command to run after --')
    launcher = Launcher(command, [args.wrapper] + args.watch, args.pidfile)
    if launcher.run() == 'changed':
        os.execv(args.wrapper, [args.wrapper])
