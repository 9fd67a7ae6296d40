"""re6st-service --wrapper PATH --pidfile PATH [--watch FILE ...] -- COMMAND...

Runs one service of the partition (slapos_re6st.service.launcher)."""
import argparse
import os

from ..lib import process
from ..service.launcher import Launcher, log


def main(argv=None):
    parent = os.getppid()
    # stopped (SIGTERM) when supervisord dies, even by SIGKILL
    process.die_with_parent()
    if os.getppid() != parent:  # it died before that was set
        return 1
    parser = argparse.ArgumentParser(
        prog='re6st-service',
        description='Run one service of the partition, restarting it when it'
        ' exits or when its configuration changes.',
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
    while launcher.run() == 'changed':
        # the wrapper as it is now (it may run another command line)
        error = execute(args.wrapper)
        # it cannot be run: the service runs on as it was (a launcher
        # that exits here leaves it down until the next instance run)
        log('cannot run %s (%s): %s runs on as before' % (
            args.wrapper, error, command[0]))
    return 0


def execute(wrapper):
    """Replace this process by `wrapper`; the error if it cannot be run
    (the launcher gets here once the wrapper was the same at two checks:
    not while buildout writes it)."""
    try:
        os.execv(wrapper, [wrapper])
    except OSError as e:
        return e
