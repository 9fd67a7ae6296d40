"""re6st-restore --backup DIR --partition PARTITION_PATH [--force]:
restore a backup of re6st-backup into a registry partition
(slapos_re6st.backup.restore)."""
import argparse
import sys

from ..backup.restore import RestoreError, restore


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-restore',
        description='Restore a backup of re6st-backup into a re6st registry'
        ' partition (a fresh instance of the same ipv6-prefix): CA files,'
        ' registry and token databases; the registry and the token manager'
        ' are restarted with them.  Run it as the partition\'s user.')
    parser.add_argument('--backup', required=True,
                        help='the backup directory, like'
                        ' <old partition>/srv/backup/20250102T030405Z')
    parser.add_argument('--partition', required=True,
                        help='the path of the partition to restore into')
    parser.add_argument('--force', action='store_true',
                        help="restore even when the backup's CA is not for"
                        ' the ipv6-prefix and key-size the instance was'
                        ' requested with')
    args = parser.parse_args(argv)
    try:
        kept, manifest, signalled, forced, first = restore(
            args.backup, args.partition, args.force)
    except RestoreError as e:
        print('re6st-restore: %s' % e, file=sys.stderr)
        return 1
    print('Restored %s (taken at %s) into %s.' % (
        args.backup, manifest.get('time', '?'), args.partition))
    print('  CA: %s, network %s' % (manifest.get('ca-fingerprint', '?'),
                                    manifest.get('ipv6-prefix', '?')))
    print('  what it replaced: %s' % kept)
    for name, pid in sorted(signalled.items()):
        print('  %s: %s' % (name, 'restarting (SIGTERM to PID %s)' % pid
                            if pid else 'not running, starts with the'
                            ' restored files'))
    if isinstance(first, Exception):
        print('Warning: the backup of what was restored failed: %s  Run'
              ' bin/re6st-backup of the partition once it is fixed.' % first)
    else:
        print('  its first backup: %s' % first)
    for sentence in forced:
        print('Warning (--force): %s' % sentence)
    print('Next: run the instance (slapos node instance); it publishes the'
          ' restored CA fingerprint.')
    return 0
