"""re6st-renew-ca: renew the network's CA certificate, keeping its key.

re6st reads the network prefix from the CA certificate's serial number, and
nodes trust the CA by its name and key.  A new certificate with the same
name and key, and the serial number of another prefix, moves the network
to that prefix: the nodes' certificates stay valid and each node keeps its
own prefix inside the new network once it has the new CA certificate (a
node fetches it from the registry when its copy nears its end, or with
re6st-conf).  The same, with the same prefix, only extends the validity.
(slapos_re6st.lib.ca.renew)
"""
import argparse
import sys

from ..lib.ca import VALIDITY, fingerprint, renew, serial_prefix


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-renew-ca',
        description='Renew the CA certificate of a re6st network with the'
        ' same key: for another network prefix (--prefix) and/or a new'
        ' validity.  The old certificate is kept next to the new one.')
    parser.add_argument('--key', required=True,
                        help="the CA's private key (srv/re6st-ca/ca.key of"
                        " the registry's partition)")
    parser.add_argument('--cert', required=True,
                        help='the CA certificate, replaced'
                        ' (srv/re6st-ca/ca.crt of the partition)')
    parser.add_argument('--prefix',
                        help='the new network prefix, like 2001:db8:43::/48'
                        ' (default: the current one)')
    parser.add_argument('--days', type=int,
                        help='validity of the new certificate in days'
                        ' (default: %s)' % VALIDITY.days)
    args = parser.parse_args(argv)
    try:
        old, new, kept = renew(args.key, args.cert, args.prefix, args.days)
    except (OSError, ValueError) as e:
        print('re6st-renew-ca: %s' % e, file=sys.stderr)
        return 1
    old_prefix = serial_prefix(old.serial_number)
    new_prefix = serial_prefix(new.serial_number)
    print('Renewed %s (the old certificate is kept as %s):' % (
        args.cert, kept))
    print('  network prefix: %s -> %s' % (old_prefix, new_prefix))
    print('  valid until:    %s -> %s' % (old.not_valid_after_utc,
                                          new.not_valid_after_utc))
    print('  fingerprint:    %s -> %s' % (fingerprint(old), fingerprint(new)))
    if old_prefix != new_prefix:
        print('Next: request the instance with ipv6-prefix %s; the registry'
              ' restarts with the new certificate.' % new_prefix)
    else:
        print('Next: the next instance run restarts the registry with the'
              ' new certificate.')
    return 0
