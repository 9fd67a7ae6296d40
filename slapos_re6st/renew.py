"""re6st-renew-ca: renew the network's CA certificate, keeping its key.

re6st reads the network prefix from the CA certificate's serial number, and
nodes trust the CA by its name and key.  A new certificate with the same
name and key, and the serial number of another prefix, moves the network
to that prefix: the nodes' certificates stay valid and each node keeps its
own prefix inside the new network once it has the new CA certificate (a
node fetches it from the registry when its copy nears its end, or with
re6st-conf).  The same, with the same prefix, only extends the validity.

The new certificate replaces the old one atomically; the old one is kept
next to it, as <cert>.<UTC time>.old.  The registry uses the new one from
its next start: the next instance run restarts it (the configuration names
the CA's fingerprint), after a request with the new ipv6-prefix if it
changed.
"""
import argparse
import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .backup import replace_file
from .ca import VALIDITY, fingerprint, prefix_serial, serial_prefix, write_new


def renewed_certificate(key, old, prefix=None, days=None, now=None):
    """A certificate like `old` (same name, key and extensions), signed by
    `key`, for the network `prefix` (default: old's), valid from now for
    `days` days (default: as long as a new CA).  ValueError with a
    sentence if `key` is not old's key or `prefix` is no IPv6 network."""
    if (key.public_key().public_numbers()
            != old.public_key().public_numbers()):
        raise ValueError('The key is not the key of the CA certificate:'
                         ' renewing keeps the key, give the CA\'s own.')
    if prefix is None:
        network = serial_prefix(old.serial_number)
    else:
        try:
            network = ipaddress.IPv6Network(prefix)
        except ValueError as e:
            raise ValueError('The prefix %r is not an IPv6 network with no'
                             ' host bits set, like 2001:db8:42::/48 (%s).'
                             % (prefix, e))
    validity = VALIDITY if days is None else datetime.timedelta(days=days)
    if validity <= datetime.timedelta(0):
        raise ValueError('The validity must be at least one day, not %s.'
                         % days)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(old.subject)
               .issuer_name(old.issuer)
               .public_key(old.public_key())
               .serial_number(prefix_serial(network))
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + validity))
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(key, hashes.SHA256())


def backup_path(cert_path, now):
    """Where the old certificate is kept: a name not taken yet."""
    base = '%s.%s' % (cert_path, now.strftime('%Y%m%dT%H%M%SZ'))
    path, n = base + '.old', 1
    while os.path.lexists(path):
        n += 1
        path = '%s.%s.old' % (base, n)
    return path


def renew(key_path, cert_path, prefix=None, days=None, now=None):
    """Renew the CA certificate at `cert_path` with the key at `key_path`.
    Returns (old certificate, new certificate, where the old one is kept)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    with open(key_path, 'rb') as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(cert_path, 'rb') as f:
        old_pem = f.read()
    old = x509.load_pem_x509_certificate(old_pem)
    new = renewed_certificate(key, old, prefix, days, now)
    backup = backup_path(cert_path, now)
    write_new(backup, old_pem, os.stat(cert_path).st_mode & 0o777)
    # at once, keeping the certificate's mode
    replace_file(cert_path, new.public_bytes(serialization.Encoding.PEM),
                 os.stat(cert_path).st_mode & 0o777)
    return old, new, backup


def ca_lifetime(cert_path, key_path, renew_command, warn_days):
    """(True, until when the CA certificate is valid) or (False, a warning
    naming its end and the renewal command) when it ends within
    `warn_days` days, on the real clock (tests move it with faketime)."""
    with open(cert_path, 'rb') as f:
        cert = x509.load_pem_x509_certificate(f.read())
    end = cert.not_valid_after_utc
    left = end - datetime.datetime.now(datetime.timezone.utc)
    when = end.strftime('%Y-%m-%d %H:%M:%S UTC')
    if left >= datetime.timedelta(days=warn_days):
        return True, 'The CA certificate %s is valid until %s (%s days).' % (
            cert_path, when, left.days)
    if left <= datetime.timedelta(0):
        state = 'expired on %s' % when
    else:
        state = 'expires on %s, in %s days (less than %s)' % (
            when, left.days, warn_days)
    return False, (
        'The CA certificate %s %s: re6st nodes fetch a new CA certificate'
        ' from the registry within 30 days of its end.  Renew it with the'
        ' same key now: run `%s --key %s --cert %s` as the partition\'s'
        ' user, then run the instance again, which restarts the registry'
        ' with it (see README.md, Renewing the CA).'
        % (cert_path, state, renew_command, key_path, cert_path))


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
        old, new, backup = renew(args.key, args.cert, args.prefix, args.days)
    except (OSError, ValueError) as e:
        print('re6st-renew-ca: %s' % e, file=sys.stderr)
        return 1
    old_prefix = serial_prefix(old.serial_number)
    new_prefix = serial_prefix(new.serial_number)
    print('Renewed %s (the old certificate is kept as %s):' % (
        args.cert, backup))
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


if __name__ == '__main__':
    sys.exit(main())
