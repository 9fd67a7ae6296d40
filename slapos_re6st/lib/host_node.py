"""The registry's own re6st node (the host node): the main node of the
network, run by the host's root, installed by root's own tool
(slapos_re6st/root/re6st_host_node.py) from the data this partition
publishes (its key and certificates, NODE), never from a file of the
partition that root would run.

re6st-registry takes the owner of the first certificate it signs for its
main node (`prefix` in its database's config table, sent to every node as
registry_prefix), and talks to it: by UDP to [::1]:326 (the address of a
node, to bootstrap a new node; network-config versions after a change),
and through babeld's control socket in their common run directory.  This
module: the main node's identity (issued once, through re6st's own
RegistryServer, before the registry first serves), and what the host node
answers now (its status).
"""
import datetime
import os
import socket
import sqlite3
import time
import urllib.parse

from cryptography import x509
from cryptography.x509.oid import NameOID

from . import ca, files

NODE_PORT = 326
# re6st's node answers these UDP queries of a local sender about its own
# prefix (never send 0: the node would fetch its network config again)
ADDRESS_QUERY = 1
KEY = 'cert.key'
CERT = 'cert.crt'
CA = 'ca.crt'
# what root's tool reads: the registry's URL, the run directory, addresses
NODE = 'node.json'
# warn this long before the registry exits for its main node's certificate
WARN_DAYS = 45


def read_db(db_path, query, args=()):
    """Rows of `query` on the registry's database, read-only; [] when
    there is no database yet."""
    if not os.path.exists(db_path):
        return []
    db = sqlite3.connect('file:%s?mode=ro' % urllib.parse.quote(db_path),
                         uri=True, timeout=30)
    try:
        return db.execute(query, args).fetchall()
    except sqlite3.OperationalError:  # no such table: never started
        return []
    finally:
        db.close()


def main_node(db_path):
    """(prefix, email, certificate) of the registry's main node, as its
    database says: (None, None, None) before its first certificate."""
    rows = read_db(db_path, "SELECT value FROM config WHERE name='prefix'")
    if not rows or not rows[0][0]:
        return None, None, None
    prefix = rows[0][0]
    rows = read_db(db_path, 'SELECT email, cert FROM cert WHERE prefix=?',
                   (prefix,))
    if not rows or not rows[0][1]:
        return prefix, None, None
    email, pem = rows[0]
    return prefix, email, x509.load_pem_x509_certificate(
        pem if isinstance(pem, bytes) else pem.encode())


def issue(config, directory, email):
    """Make this host node's certificate the registry's first one: with
    re6st's own RegistryServer on the registry's database (the registry
    not running yet), addToken then requestCertificate for the key in
    `directory` (created there if missing, 0600).  Writes its certificate
    and the CA's there.  Returns the node's prefix (as the registry names
    nodes: 'number/length')."""
    import secrets
    from re6st import registry
    key_path = os.path.join(directory, KEY)
    ensure_key(key_path)
    csr = ca.certificate_request(ca.load_key(key_path), 'host node')
    server = registry.RegistryServer(config)
    try:
        token = secrets.token_hex(16)
        server.addToken(email, token)
        pem = server.requestCertificate(token, csr.decode())
    finally:
        server.close()
    cert = x509.load_pem_x509_certificate(pem)
    files.write(os.path.join(directory, CERT), pem)
    files.write(os.path.join(directory, CA), files.read(config.ca,
                                                        binary=True))
    return common_name(cert)


def follow_ca(config, directory):
    """The host node's copy of the CA made the registry's again, if it
    differs (a restored CA, a renewed one): re6stnet checks its
    certificate against it when it starts.  True if it was rewritten."""
    if not os.path.exists(os.path.join(directory, CERT)):
        return False
    return files.write_if_changed(os.path.join(directory, CA),
                                  files.read(config.ca, binary=True))


def ensure_key(path, key_size=2048):
    """The host node's key, created once (0600, in a 0700 directory)."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        key = ca.make_key(key_size)
        files.write(path, ca.private_pem(key), 0o600,
                    exclusive=True)


def common_name(cert):
    return cert.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value


def prefix_bits(name):
    """re6st's binary prefix of a node named 'number/length'."""
    number, length = map(int, name.split('/'))
    return format(number, '0%sb' % length) if length else ''


def query(prefix, code=ADDRESS_QUERY, timeout=2.0, host='::1',
          port=NODE_PORT):
    """Ask the re6st node of this host about `prefix` (binary), as
    re6st-registry does: ('answered', its text), ('refused', why) when no
    node listens, ('silent', why) when none answers in time."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.connect((host, port))
        request = prefix.encode() + b'\0'
        s.send(request + bytes([code]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            answer = s.recv(65535)
            if answer.startswith(request + bytes([code])):
                return 'answered', answer[len(request) + 1:].decode(
                    errors='replace')
        return 'silent', 'no answer within %s s' % timeout
    except ConnectionRefusedError:
        return 'refused', 'nothing listens on [%s]:%s' % (host, port)
    except socket.timeout:
        return 'silent', 'no answer within %s s' % timeout
    except OSError as e:
        return 'refused', str(e)
    finally:
        s.close()


def routed_peers(socket_path, timeout=5.0):
    """The number of prefixes babeld routes (a dump of its control
    socket, decoded by re6st's own ctl), or the OSError that refused the
    reading."""
    from re6st import ctl
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path)
        # as re6st.ctl.Babel: one byte, then Dump(11): interfaces,
        # neighbours, installed routes
        s.sendall(b'\1' + ctl.header.pack(1, 1) + bytes([11]))
        head = receive(s, ctl.header.size)
        kind, size = ctl.header.unpack(head)
        payload = receive(s, size)
    except OSError as e:
        return e
    finally:
        s.close()
    _, dump = ctl.Packet.response_dict[kind](payload)
    return len({(route.prefix, route.plen) for route in dump.routes})


def receive(s, size):
    data = b''
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            raise ConnectionError('babeld closed the connection')
        data += chunk
    return data


def lifetime(cert, grace_period, now=None):
    """(when the registry would exit for its main node's `cert`, the
    days left)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    end = cert.not_valid_after_utc + datetime.timedelta(seconds=grace_period)
    return end, (end - now).days


def partition_of(directory):
    """The partition of the host node's `directory` (srv/re6st-host-node)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(directory)))


def node_id(directory):
    """The name root's tool installs the node under: its partition's."""
    return os.path.basename(partition_of(directory))


def unit_name(directory):
    return 're6stnet-%s.service' % node_id(directory)


def start_command(directory):
    """What root runs to install (again) the node of `directory`."""
    return 're6st-host-node install %s' % partition_of(directory)


def status(db_path, directory, run, grace_period, now=None):
    """(ok, one sentence) on the host node: whether the registry's main
    node is this partition's host node, whether it answers the registry
    (UDP [::1]:326) and how many prefixes its babeld routes; and, whatever
    else, a warning when the main node's certificate nears the day the
    registry would exit for it (its end plus grace-period)."""
    prefix, email, main_cert = main_node(db_path)
    if prefix is None:
        return False, ('not running (the registry makes its certificate,'
                       ' its first, when it first starts): as root, run'
                       ' `%s` and start %s (see host-node-commands).'
                       % (start_command(directory), unit_name(directory)))
    own = files.read(os.path.join(directory, CERT), binary=True)
    own = own and prefix_bits(common_name(x509.load_pem_x509_certificate(
        own)))
    warning = ''
    if main_cert is not None:
        end, days = lifetime(main_cert, grace_period, now)
        if days < WARN_DAYS:
            warning = (' Warning: the main node\'s certificate ended or ends'
                       ' on %s; re6st-registry exits on %s (in %s days),'
                       ' end plus grace-period, unless the node renews it:'
                       ' run that node.' % (
                           main_cert.not_valid_after_utc.date(), end.date(),
                           days))
    if own != prefix:
        return False, (
            "not the registry's main node: that is the node of prefix %s"
            ' (%s, its first certificate), not this partition\'s host node'
            ' (a registry deployed before the release made its own, or'
            ' restored from one): run that node on this host as the'
            " registry's node (re6stnet with its own files and run %s)."
            % (prefix, email or 'no owner recorded', run) + warning)
    answer, text = query(prefix)
    if answer != 'answered':
        return False, ('not running (%s): as root, run `%s` and start %s'
                       ' (see host-node-commands).' % (
                           text, start_command(directory),
                           unit_name(directory)) + warning)
    peers = routed_peers(os.path.join(run, 'babeld.sock'))
    if isinstance(peers, OSError):
        return False, (
            'running, control socket refused: %s: the registry cannot read'
            ' babeld (it offers no other node to bootstrap from); the node'
            ' must run with the hook root\'s tool installs (up), which'
            ' gives this partition\'s group access to %s: as root, run `%s`'
            ' and restart %s.' % (peers, os.path.join(run, 'babeld.sock'),
                                  start_command(directory),
                                  unit_name(directory)) + warning)
    return not warning, 'running: %s peers routed.%s' % (peers, warning)
