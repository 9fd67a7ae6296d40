"""re6st-backup CONFIG: one backup now (bin/re6st-backup of the partition
runs this); re6st-backup --loop CONFIG: the partition's service."""
import argparse
import sys

from ..backup.directory import BackupError, read_status
from ..backup.loop import loop
from ..backup.snapshot import backup
from . import load_json, setup_logging


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-backup',
        description='Back up the re6st registry of a partition (databases'
        ' with sqlite\'s backup API, CA key and certificate, DH file) into'
        ' its backup directory, keeping the last ones.')
    parser.add_argument('config', help="the partition's backup"
                        ' configuration (etc/re6st-backup.json)')
    parser.add_argument('--loop', action='store_true',
                        help='run as the service: a backup now, then one'
                        ' every period, and the rotation of the registry\'s'
                        ' log')
    args = parser.parse_args(argv)
    setup_logging('re6st-backup')
    config = load_json(args.config, 're6st-backup')
    if args.loop:
        loop(config)
        return 0
    try:
        path = backup(config)
    except (BackupError, OSError) as e:
        print('re6st-backup: %s' % e, file=sys.stderr)
        return 1
    print(path)
    error = read_status(config['directory']).get('push-error')
    if error:
        print('re6st-backup: the backup is written, but %s%s' % (
            error[0].lower(), error[1:]), file=sys.stderr)
        return 1
    return 0
