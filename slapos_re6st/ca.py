"""The network's certificate authority: key, self-signed certificate, DH.

re6st reads the network prefix from the CA certificate's serial number:
int('1' + the first N bits of the prefix, 2).  The files are created once and
never rewritten: they are the network's identity.  The recipe creates them in
``__init__`` (like slapos.cookbook's Password recipe) so that their
fingerprint can be published in the same run, and never returns them from
``install``, so that buildout never deletes them.
"""
import datetime
import hashlib
import ipaddress
import os

import zc.buildout
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=3650)

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


def make_ca_certificate(key, prefix, now=None):
    """A self-signed CA certificate for the re6st network `prefix`."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                       critical=False)
        .sign(key, hashes.SHA256()))


def fingerprint(certificate):
    """`sha256:<hex>` of the certificate in DER, as re6st-conf takes it."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return 'sha256:' + hashlib.sha256(der).hexdigest()


def write_new(path, data, mode=0o644):
    """Write `data` to `path` atomically; the file must not exist yet."""
    tmp = '%s.%s.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if `path` appeared meanwhile
    finally:
        os.unlink(tmp)


def ensure_ca(key_path, cert_path, dh_path, key_size, prefix,
              renew_command='re6st-renew-ca'):
    """Create what is missing of the CA; check what exists against the
    request.  Returns the CA certificate.  Raises UserError with a sentence
    when the existing CA does not match `key_size` or `prefix` (naming
    `renew_command`, the way to change the prefix on purpose)."""
    prefix = ipaddress.IPv6Network(prefix)
    for path in key_path, cert_path, dh_path:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.exists(key_path):
        with open(key_path, 'rb') as f:
            # only its size is read here, on every instance run: skip the
            # (slow) consistency checks of the RSA key, which is ours
            key = serialization.load_pem_private_key(
                f.read(), None, unsafe_skip_rsa_key_validation=True)
        if key.key_size != key_size:
            raise zc.buildout.UserError(
                "key-size is %s but this network's CA key (%s) has %s bits:"
                " the CA key is the network's identity and is never replaced"
                " (renewing the CA certificate with %s keeps it); request"
                " key-size %s to keep it, or deploy another instance for a"
                " new network."
                % (key_size, key_path, key.key_size, renew_command,
                   key.key_size))
    else:
        if os.path.exists(cert_path):
            raise zc.buildout.UserError(
                "The CA certificate %s exists but its key %s is missing:"
                " restore the key from a backup (nodes trust this CA), or"
                " move the certificate away to create a new network."
                % (cert_path, key_path))
        key = make_key(key_size)
        write_new(key_path, key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()), 0o600)
    if os.path.exists(cert_path):
        with open(cert_path, 'rb') as f:
            cert = x509.load_pem_x509_certificate(f.read())
        current = serial_prefix(cert.serial_number)
        if current != prefix:
            raise zc.buildout.UserError(
                "ipv6-prefix is %s but this network's CA (%s) is bound to %s:"
                " nodes hold addresses in it; request ipv6-prefix %s to keep"
                " it.  To move the network to %s on purpose, renew the CA"
                " certificate with the same key and a new serial, keeping a"
                " copy of the old one: run `%s --key %s --cert %s --prefix %s`"
                " as the partition's user, then request ipv6-prefix %s again"
                " (nodes keep their own prefix inside the new one once they"
                " have the new CA certificate; see README.md, Renewing the"
                " CA)." % (prefix, cert_path, current, current, prefix,
                           renew_command, key_path, cert_path, prefix,
                           prefix))
    else:
        cert = make_ca_certificate(key, prefix)
        write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    if not os.path.exists(dh_path):
        write_new(dh_path, FFDHE2048_PEM)
    return cert


class Recipe:
    """Options: key, cert, dh (paths), key-size, ipv6-prefix; optional:
    renew-command (how the refusal of another prefix names re6st-renew-ca).
    Sets: fingerprint."""

    def __init__(self, buildout, name, options):
        for option in 'key', 'cert', 'dh', 'key-size', 'ipv6-prefix':
            if not options.get(option):
                raise zc.buildout.UserError(
                    '[%s] needs the option %r.' % (name, option))
        try:
            key_size = int(options['key-size'])
        except ValueError:
            raise zc.buildout.UserError(
                '[%s] key-size must be a number of bits, not %r.'
                % (name, options['key-size']))
        cert = ensure_ca(options['key'], options['cert'], options['dh'],
                         key_size, options['ipv6-prefix'],
                         options.get('renew-command') or 're6st-renew-ca')
        options['fingerprint'] = fingerprint(cert)

    def install(self):
        # The CA is the network's identity: never hand it to buildout, which
        # would delete it when this part is uninstalled.
        return []

    update = install
