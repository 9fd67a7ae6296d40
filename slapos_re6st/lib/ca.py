"""The network's certificate authority: key, self-signed certificate, DH.

re6st reads the network prefix from the CA certificate's serial number:
int('1' + the first N bits of the prefix, 2).  The CA key is the network's
identity and is never replaced; its certificate is created once and only
renewed on purpose (renew(): same name, key and extensions, a new serial
and/or validity), which is how re6st moves a network to another prefix.
"""
import datetime
import hashlib
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from . import files

VALIDITY = datetime.timedelta(days=3650)
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'

# RFC 7919, appendix A.1: the ffdhe2048 group, in the PKCS#3 form that
# `openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048` writes.
# A named group is a constant: nothing to compute, nothing to wait for.
FFDHE2048_PEM = b"""\
-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def prefix_serial(prefix):
    """The CA serial number that makes re6st use `prefix` (an IPv6 network)."""
    network = ipaddress.IPv6Network(prefix)
    bits = format(int(network.network_address), '0128b')[:network.prefixlen]
    return int('1' + bits, 2)


def serial_prefix(serial):
    """The IPv6 network that a CA serial number stands for (inverse of
    prefix_serial)."""
    bits = format(serial, 'b')[1:]
    address = int(bits.ljust(128, '0'), 2)
    return ipaddress.IPv6Network((address, len(bits)))


def make_key(key_size):
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _now(now):
    return now or datetime.datetime.now(datetime.timezone.utc)


def make_ca_certificate(key, prefix, now=None):
    """A self-signed CA certificate for the re6st network `prefix`."""
    now = _now(now)
    name = x509.Name([x509.NameAttribute(
        NameOID.COMMON_NAME, 're6st CA %s' % ipaddress.IPv6Network(prefix))])
    public_key = key.public_key()
    return (x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(prefix_serial(prefix))
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),
                critical=False)
            .sign(key, hashes.SHA256()))


def fingerprint(certificate):
    """`sha256:<hex>` of the certificate in DER, as re6st-conf takes it."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return 'sha256:' + hashlib.sha256(der).hexdigest()


def load_certificate(path):
    with open(path, 'rb') as f:
        return x509.load_pem_x509_certificate(f.read())


def load_key(path, validate=True):
    """The private key at `path`; validate=False skips the (slow)
    consistency checks of an RSA key, for a key of our own read often."""
    with open(path, 'rb') as f:
        return serialization.load_pem_private_key(
            f.read(), None, unsafe_skip_rsa_key_validation=not validate)


def pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_pem(key):
    """A private key in PEM, unencrypted (its file is 0600)."""
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def summary(certificate):
    """{ca-fingerprint, ipv6-prefix, not-after} of a CA certificate."""
    return {'ca-fingerprint': fingerprint(certificate),
            'ipv6-prefix': str(serial_prefix(certificate.serial_number)),
            'not-after': certificate.not_valid_after_utc.strftime(
                TIME_FORMAT)}


def same_key(key, certificate):
    return (key.public_key().public_numbers()
            == certificate.public_key().public_numbers())


def planned_ca(key_path, cert_path, dh_path, key_size, prefix,
               renew_command='re6st-renew-ca', pending=None):
    """The CA certificate, as it is or as it will be once `pending` (a
    files.Pending) has written what is missing of the CA; the existing CA
    checked against the request, nothing written.  ValueError with a
    sentence when the existing CA does not match `key_size` or `prefix`
    (naming `renew_command`, the way to change the prefix on purpose)."""
    prefix = ipaddress.IPv6Network(prefix)
    if os.path.exists(key_path):
        # only its size is read here, on every instance run
        key = load_key(key_path, validate=False)
        if key.key_size != key_size:
            raise ValueError(
                "key-size is %s but this network's CA key (%s) has %s bits:"
                " the CA key is the network's identity and is never replaced"
                " (renewing the CA certificate with %s keeps it); request"
                " key-size %s to keep it, or deploy another instance for a"
                " new network."
                % (key_size, key_path, key.key_size, renew_command,
                   key.key_size))
    else:
        if os.path.exists(cert_path):
            raise ValueError(
                "The CA certificate %s exists but its key %s is missing:"
                " restore the key from a backup (nodes trust this CA), or"
                " move the certificate away to create a new network."
                % (cert_path, key_path))
        key = make_key(key_size)
        pending.new(key_path, private_pem(key), 0o600)
    if os.path.exists(cert_path):
        cert = load_certificate(cert_path)
        current = serial_prefix(cert.serial_number)
        if current != prefix:
            raise ValueError(
                "ipv6-prefix is %s but this network's CA (%s) is bound to %s:"
                " nodes hold addresses in it; request ipv6-prefix %s to keep"
                " it.  To move the network to %s on purpose, renew the CA"
                " certificate with the same key and a new serial, keeping a"
                " copy of the old one: run `%s --key %s --cert %s --prefix %s`"
                " as the partition's user, then request ipv6-prefix %s again"
                " (nodes keep their own prefix inside the new one once they"
                " have the new CA certificate; see docs/operations.md,"
                " Renewing the CA)." % (prefix, cert_path, current, current,
                                        prefix, renew_command, key_path,
                                        cert_path, prefix, prefix))
    else:
        cert = make_ca_certificate(key, prefix)
        pending.new(cert_path, pem(cert))
    if not os.path.exists(dh_path):
        pending.new(dh_path, FFDHE2048_PEM)
    return cert


def ensure_ca(key_path, cert_path, dh_path, key_size, prefix,
              renew_command='re6st-renew-ca'):
    """planned_ca(), with what is missing of the CA written now (its
    folders made 0700).  Returns the CA certificate."""
    pending = files.Pending()
    cert = planned_ca(key_path, cert_path, dh_path, key_size, prefix,
                      renew_command, pending)
    pending.write_all()
    return cert


def renewed_certificate(key, old, prefix=None, days=None, now=None):
    """A certificate like `old` (same name, key and extensions), signed by
    `key`, for the network `prefix` (default: old's), valid from now for
    `days` days (default: as long as a new CA).  ValueError with a
    sentence if `key` is not old's key or `prefix` is no IPv6 network."""
    if not same_key(key, old):
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
    now = _now(now)
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


def kept_copy_path(cert_path, now):
    """Where renew() keeps the old certificate: a name not taken yet."""
    base = '%s.%s' % (cert_path, now.strftime('%Y%m%dT%H%M%SZ'))
    path, n = base + '.old', 1
    while os.path.lexists(path):
        n += 1
        path = '%s.%s.old' % (base, n)
    return path


def renew(key_path, cert_path, prefix=None, days=None, now=None):
    """Renew the CA certificate at `cert_path` with the key at `key_path`:
    the new one replaces it at once, the old one is kept next to it.
    Returns (old certificate, new certificate, where the old one is
    kept)."""
    now = _now(now)
    key = load_key(key_path)
    with open(cert_path, 'rb') as f:
        old_pem = f.read()
    old = x509.load_pem_x509_certificate(old_pem)
    new = renewed_certificate(key, old, prefix, days, now)
    mode = os.stat(cert_path).st_mode & 0o777
    kept = kept_copy_path(cert_path, now)
    files.write(kept, old_pem, mode, exclusive=True)
    files.write(cert_path, pem(new), mode)
    return old, new, kept


def certificate_request(key, common_name='re6st node'):
    """A certificate signing request for `key`, in PEM, as re6st-conf makes
    it (the registry sets the subject it signs itself)."""
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, common_name)]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))
