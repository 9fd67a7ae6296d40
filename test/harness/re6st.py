"""re6st's own programs and parsers, as a node and an operator see the
registry: re6st-conf (the real client, from PyPI, in the tests'
environment), re6st's RegistryClient with a node's certificate, and the
option parsers of re6st-registry and re6stnet."""
import hashlib
import ipaddress
import os
import subprocess
import sys
from unittest import mock

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BIN = os.path.dirname(sys.executable)


def run_conf(registry, directory, *args):
    """The real re6st-conf (from PyPI, outside the release)."""
    return subprocess.run(
        [os.path.join(BIN, 're6st-conf'), '--registry', registry,
         '-d', directory] + list(args),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def load_certificate(path):
    with open(path, 'rb') as f:
        return x509.load_pem_x509_certificate(f.read())


def node_certificate(directory):
    return load_certificate(os.path.join(directory, 'cert.crt'))


def node_prefix(directory):
    """(bits, length) of the prefix in a node's certificate (CN
    "number/length")."""
    cn = node_certificate(directory).subject.get_attributes_for_oid(
        x509.oid.NameOID.COMMON_NAME)[0].value
    number, length = map(int, cn.split('/'))
    return format(number, '0%sb' % length), length


def node_client(registry_url, directory):
    """(re6st's RegistryClient, the node's certificate): the node of
    `directory` (made by re6st-conf) talking to the registry as re6stnet
    does, authenticated with its certificate."""
    from re6st import registry, x509 as re6st_x509
    cert = re6st_x509.Cert(os.path.join(directory, 'ca.crt'),
                           os.path.join(directory, 'cert.key'),
                           os.path.join(directory, 'cert.crt'))
    return registry.RegistryClient(registry_url, cert), cert


def fingerprint(certificate):
    """`sha256:<hex>` of a certificate in DER, as re6st-conf takes it."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return 'sha256:' + hashlib.sha256(der).hexdigest()


def prefix_serial(prefix):
    """The CA serial number that makes re6st use `prefix` (an IPv6
    network): '1' and the network's bits, in binary."""
    network = ipaddress.IPv6Network(prefix)
    bits = format(int(network.network_address), '0128b')[:network.prefixlen]
    return int('1' + bits, 2)


def certificate_request(key_size=2048, common_name='re6st node'):
    """A certificate signing request of a new key, in PEM, as re6st-conf
    makes one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                x509.oid.NameOID.COMMON_NAME, common_name)]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


class Refused(Exception):
    """re6st's parser refuses a configuration: its own message."""


def registry_config(path):
    """What re6st-registry makes of `re6st-registry @path`: its own parser
    and checks, stopped before it starts anything (a test's view of a
    configuration, independent of the release's code)."""
    from re6st.cli import registry as cli
    parsed = []

    class Parsed(Exception):
        pass

    def server(config):
        parsed.append(config)
        raise Parsed

    def refuse(message):
        raise Refused(message)

    with mock.patch.object(sys, 'argv', ['re6st-registry', '@' + path]), \
            mock.patch.object(cli.utils, 'setupLog', lambda *a, **kw: None), \
            mock.patch.object(cli.registry, 'RegistryServer', server), \
            mock.patch.object(cli.utils.ArgParser, 'error',
                              lambda self, message: refuse(message)):
        try:
            cli.main()
        except Parsed:
            return parsed[0]
    raise Refused('re6st-registry started nothing')


def re6stnet_config(path):
    """The options re6stnet makes of `re6stnet @path` (its own parser);
    SystemExit if it refuses the file."""
    from re6st.cli import node
    with mock.patch('sys.argv', ['re6stnet', '@' + path]):
        return node.getConfig()
