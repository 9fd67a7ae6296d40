"""Adoption of a registry of SlapOS's own re6stnet release
(`software/re6stnet`, slapos.cookbook's re6stnet.registry recipe) in the
same partition: its CA, DH parameters, database (nodes, prefixes, CRL,
serials, main node) and shared instances' tokens become this release's.

Its layout (since 2021; before, the database was in srv/res6stnet/registry/):

  etc/re6stnet/ssl/re6stnet.crt, .key, dh.pem    the CA (openssl req -x509)
  srv/re6stnet/registry.db                       re6st-registry's database
  etc/re6stnet/token.json                        {reference: token}
  etc/re6stnet/token/<reference>.add, .remove, .status (TOKEN_ADDED,
      TOKEN_USED)                                its token manager's queue
  var/run/registry.pid, var/run/apache.pid       its registry and Apache
  .installed-switch-softwaretype.cfg             its profile's parts (the
      record of its switch-softwaretype sub-buildout): wrappers in
      etc/service and etc/run (Apache, registry, crond, monitor), cron
      entries, promises, configuration files

find() reads what is there; check() refuses with one sentence anything
that cannot be adopted, before anything is written; adopt() copies (never
moves nor changes the old files) and writes the record last, so that an
adoption is done once and never again over data that moved on since.

This release's buildout reads only .installed.cfg: the old profile's
parts, which its sub-buildout recorded apart, would stay installed, and
slapos would keep running what they left in etc/service and etc/run (its
Apache on the port the forward takes over, a crond running its token
manager, its monitor) and checking its promises.  retire() does what
buildout's uninstall of those parts would, without losing anything: every
file or folder the record names is moved, with the record, under
srv/re6st-adoption/old-profile/ (the same relative paths), except the
data (etc/re6stnet, srv, var); the old release's buildout makes them again
if its URL is requested again.
"""
import dataclasses
import datetime
import ipaddress
import json
import os
import signal
import sqlite3
import tempfile
import time
import urllib.parse

from cryptography import x509

from . import ca, files, process
from .host_node import read_db

OLD_CERT = 'etc/re6stnet/ssl/re6stnet.crt'
OLD_KEY = 'etc/re6stnet/ssl/re6stnet.key'
OLD_DH = 'etc/re6stnet/ssl/dh.pem'
OLD_DBS = ('srv/re6stnet/registry.db', 'srv/res6stnet/registry/registry.db')
OLD_TOKENS = 'etc/re6stnet/token.json'
OLD_TOKEN_DIR = 'etc/re6stnet/token'
# the old profile's processes: (pid file, what its command line holds)
OLD_PROCESSES = (('var/run/registry.pid', 're6st-registry'),
                 ('var/run/apache.pid', 'httpd'))
# the old profile's parts, as its switch-softwaretype sub-buildout
# records them
OLD_RECORDS = ('.installed-switch-softwaretype.cfg',)
# what its parts may name and is data: never moved
OLD_DATA = ('etc/re6stnet', 'srv', 'var')
RETIRED = 'srv/re6st-adoption/old-profile'
# what the old release published as re6stry-url: Apache on the partition's
# IPv6, which the forward takes over
OLD_PORT = 9026
OLD_FORWARD_PORT = 9201
TOKEN_ADDED = 'TOKEN_ADDED'
TOKEN_USED = 'TOKEN_USED'
STOP_WAIT = 10.0


class Refusal(ValueError):
    """One sentence: what cannot be adopted and what to do."""


@dataclasses.dataclass
class Layout:
    """What find() saw of the old release in `root` (relative paths)."""
    root: str
    cert: str = None
    key: str = None
    dh: str = None
    db: str = None
    tokens: str = None
    token_dir: str = None

    def path(self, relative):
        return os.path.join(self.root, relative)

    def files(self):
        """Every old file adoption reads, relative to the partition."""
        found = [p for p in (self.cert, self.key, self.dh, self.db,
                             self.tokens) if p]
        if self.token_dir:
            found += sorted(os.path.join(self.token_dir, name) for name in
                            os.listdir(self.path(self.token_dir)))
        return found


@dataclasses.dataclass
class Token:
    """A shared instance's token as the old release left it."""
    reference: str
    token: str
    email: str           # its node's name in the registry
    registered: bool     # known to the registry (added, or used)
    dropped: bool        # its shared instance was destroyed (.remove)


@dataclasses.dataclass
class Plan:
    """What adopt() does, all checked."""
    layout: Layout
    ipv6_prefix: str
    key_size: int
    fingerprint: str
    main_node: str       # prefix (binary) of the registry's main node
    main_email: str
    nodes: int
    tokens: list


def exists(root, relative):
    return os.path.lexists(os.path.join(root, relative))


def find(root):
    """The old release's Layout in the partition `root`, or None when it
    holds nothing of it."""
    layout = Layout(root)
    for name, relative in (('cert', OLD_CERT), ('key', OLD_KEY),
                           ('dh', OLD_DH), ('tokens', OLD_TOKENS),
                           ('token_dir', OLD_TOKEN_DIR)):
        if exists(root, relative):
            setattr(layout, name, relative)
    for relative in OLD_DBS:
        if exists(root, relative):
            layout.db = relative
            break
    if not (layout.cert or layout.key or layout.db):
        return None
    return layout


def token_email(reference):
    """The old token manager's name for the node of `reference`."""
    return '%s@slapos' % reference.lower()


def check_db(layout, cert):
    """(main node prefix, its email, number of nodes); Refusal when a
    node's certificate was not signed by `cert`'s key."""
    path = layout.path(layout.db)
    try:
        rows = read_db(path, 'SELECT prefix, email, cert FROM cert'
                             ' WHERE cert IS NOT NULL')
        config = dict(read_db(path, 'SELECT name, value FROM config'))
    except sqlite3.DatabaseError as e:
        raise Refusal(
            'The database %s of SlapOS\'s re6stnet release cannot be read'
            ' (%s): restore it from its backup (srv/backup/re6stnet) and'
            ' run again; nothing was changed.' % (path, e))
    for prefix, email, pem in rows:
        node = x509.load_pem_x509_certificate(
            pem if isinstance(pem, bytes) else pem.encode())
        try:
            node.verify_directly_issued_by(cert)
        except Exception:
            raise Refusal(
                'The database %s holds certificates of another CA than %s'
                ' (node %s, %s): it is not this CA\'s database; put the'
                ' matching database or CA back and run again; nothing was'
                ' changed.' % (path, layout.path(layout.cert), prefix, email))
    main = config.get('prefix') or None
    main_email = None
    for prefix, email, _ in rows:
        if prefix == main:
            main_email = email
    return main, main_email, len(rows)


def read_tokens(layout, db_tokens, db_emails):
    """The tokens of the old release's shared instances, as Token."""
    tokens = []
    if layout.tokens:
        path = layout.path(layout.tokens)
        try:
            with open(path) as f:
                current = json.load(f)
            if not isinstance(current, dict) or not all(
                    isinstance(k, str) and isinstance(v, str)
                    for k, v in current.items()):
                raise ValueError('not an object of strings')
        except ValueError as e:
            raise Refusal(
                'The token list %s of SlapOS\'s re6stnet release is not'
                ' what that release writes ({reference: token}: %s):'
                ' restore it and run again; nothing was changed.'
                % (path, e))
    else:
        current = {}
    directory = layout.token_dir and layout.path(layout.token_dir)

    def read(reference, suffix):
        if not directory:
            return None
        return files.read(os.path.join(directory, reference + suffix))

    for reference, token in sorted(current.items()):
        email = token_email(reference)
        status = (read(reference, '.status') or '').strip()
        tokens.append(Token(
            reference, token, email,
            status in (TOKEN_ADDED, TOKEN_USED) or token in db_tokens
            or email in db_emails, False))
    # shared instances destroyed, whose token the old manager had yet to
    # delete (or whose node it had yet to revoke)
    if directory:
        for name in sorted(os.listdir(directory)):
            reference, suffix = os.path.splitext(name)
            if suffix == '.remove' and reference not in current:
                token = (files.read(os.path.join(directory, name)) or
                         '').strip()
                if token:
                    tokens.append(Token(reference, token,
                                        token_email(reference), True, True))
    return tokens


def check(layout, ipv6_prefix=None, key_size=None):
    """The Plan of adopting `layout`; Refusal (one sentence) when it
    cannot be: a key without certificate or the reverse, a key that is
    not the certificate's, a database of another CA, an `ipv6_prefix` or
    `key_size` requested (None: not requested) that the CA contradicts."""
    cert_path = layout.cert and layout.path(layout.cert)
    key_path = layout.key and layout.path(layout.key)
    if not (cert_path and key_path):
        raise Refusal(
            'This partition holds a registry of SlapOS\'s re6stnet release'
            ' without its CA %s: put it back (from srv/backup/re6stnet or'
            ' the old partition) and run again, or destroy this instance'
            ' and request a new one for a new network; nothing was changed.'
            % ('certificate ' + layout.path(OLD_CERT) if not cert_path
               else 'key ' + layout.path(OLD_KEY)))
    try:
        cert = ca.load_certificate(cert_path)
        key = ca.load_key(key_path)
    except ValueError as e:
        raise Refusal(
            'The CA of SlapOS\'s re6stnet release (%s, %s) cannot be read'
            ' (%s): put the files back as that release made them and run'
            ' again; nothing was changed.' % (cert_path, key_path, e))
    if not ca.same_key(key, cert):
        raise Refusal(
            'The CA key %s is not the key of the CA certificate %s: put'
            ' back the pair SlapOS\'s re6stnet release made (nodes trust'
            ' that certificate) and run again; nothing was changed.'
            % (key_path, cert_path))
    prefix = str(ca.serial_prefix(cert.serial_number))
    if ipv6_prefix is not None and ipaddress.IPv6Network(
            ipv6_prefix) != ipaddress.IPv6Network(prefix):
        raise Refusal(
            'ipv6-prefix is %s but the CA of SlapOS\'s re6stnet release in'
            ' this partition (%s) is bound to %s: request ipv6-prefix %s'
            ' (or none) to take that network over; nothing was changed.'
            % (ipv6_prefix, cert_path, prefix, prefix))
    if key_size is not None and int(key_size) != key.key_size:
        raise Refusal(
            'key-size is %s but the CA key of SlapOS\'s re6stnet release in'
            ' this partition (%s) has %s bits: request key-size %s (or'
            ' none) to take that network over; nothing was changed.'
            % (key_size, key_path, key.key_size, key.key_size))
    main = main_email = None
    nodes = 0
    db_tokens, db_emails = set(), set()
    if layout.db:
        main, main_email, nodes = check_db(layout, cert)
        db_tokens = {row[0] for row in read_db(
            layout.path(layout.db), 'SELECT token FROM token')}
        db_emails = {row[0] for row in read_db(
            layout.path(layout.db),
            'SELECT email FROM cert WHERE cert IS NOT NULL')}
    return Plan(layout, prefix, key.key_size, ca.fingerprint(cert), main,
                main_email, nodes, read_tokens(layout, db_tokens, db_emails))


def running(root):
    """[(pid, pid file)] of the old profile's processes still running (as
    this user: the partition's)."""
    found = []
    for relative, marker in OLD_PROCESSES:
        pid = (files.read(os.path.join(root, relative)) or '').strip()
        if not pid.isdigit():
            continue
        args = process.command_line(int(pid))
        try:
            if not args or process.state(int(pid)) == 'Z':
                continue
        except OSError:
            continue
        if any(marker in arg for arg in args):
            found.append((int(pid), relative))
    return found


def stop(root, wait=STOP_WAIT):
    """Stop the old profile's registry and Apache (SIGTERM; supervisor
    does not restart the programs of a partition by itself).  Refusal if
    one still runs after `wait` seconds."""
    processes = running(root)
    for pid, _ in processes:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait
    while processes and time.monotonic() < deadline:
        time.sleep(0.1)
        processes = running(root)
    if processes:
        raise Refusal(
            'The registry of SlapOS\'s re6stnet release still runs on its'
            ' database (PID %s, %s) after SIGTERM: stop it (slapos node'
            ' supervisorctl stop on this partition\'s programs) and run'
            ' again; nothing was adopted.' % (
                ', '.join(str(pid) for pid, _ in processes),
                ', '.join(path for _, path in processes)))


@dataclasses.dataclass
class Target:
    """Where this release keeps what is adopted."""
    key: str
    cert: str
    dh: str
    db: str
    tokens_db: str
    record: str

    def paths(self):
        return (self.key, self.cert, self.dh, self.db, self.tokens_db)


def check_target(target):
    """Refusal when this release already has data of its own there (an
    adoption must never overwrite a network)."""
    present = [p for p in target.paths() if os.path.lexists(p)]
    if present:
        raise Refusal(
            'This partition holds both a registry of SlapOS\'s re6stnet'
            ' release and this release\'s own (%s) without a record of an'
            ' adoption (%s): move away one of them (the old one, to keep'
            ' this release\'s network; this release\'s, to take the old'
            ' network over) and run again; nothing was changed.'
            % (', '.join(present), target.record))


def copy_db(source, destination):
    """A consistent copy of an sqlite database (its backup API), the
    source opened read-only."""
    src = sqlite3.connect('file:%s?mode=ro' % urllib.parse.quote(source),
                          uri=True, timeout=30)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(destination),
                               prefix='.adopting-')
    os.close(fd)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
        os.chmod(tmp, 0o600)
        os.rename(tmp, destination)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        src.close()


def write_tokens(path, tokens):
    """The token manager's store (slapos_re6st.tokens.store) with the old
    tokens, written whole then renamed."""
    from ..tokens.store import Store
    tmp = path + '.adopting'
    if os.path.exists(tmp):
        os.unlink(tmp)
    store = Store(tmp)
    with store.db:
        for token in tokens:
            store.db.execute(
                'INSERT INTO token (reference, token, registered, dropped)'
                ' VALUES (?, ?, ?, ?)', (token.reference, token.token,
                                        int(token.registered),
                                        int(token.dropped)))
            # a destroyed one (dropped) is revoked without waiting for a
            # request that will never come
            store.db.execute('INSERT INTO adopted VALUES (?, ?, ?)',
                             (token.reference, token.email,
                              int(token.dropped)))
    store.db.close()
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def installed_paths(text):
    """Every path the parts of a buildout record (.installed.cfg's
    format) installed: their `__buildout_installed__` values."""
    paths, inside = [], False
    for line in text.splitlines():
        if line[:1] in (' ', '\t'):
            if inside and line.strip():
                paths.append(line.strip())
            continue
        key, sep, value = line.partition('=')
        inside = bool(sep) and key.strip() == '__buildout_installed__'
        if inside and value.strip():
            paths.append(value.strip())
    return paths


def retired_paths(root):
    """[relative path] of what the old profile's parts installed in the
    partition `root` and retire() moves (existing, inside the partition,
    not data nor holding any), then the records themselves."""
    root = os.path.realpath(root)
    found = []
    for record in OLD_RECORDS:
        text = files.read(os.path.join(root, record))
        if text is None:
            continue
        for path in installed_paths(text):
            path = os.path.join(
                os.path.realpath(os.path.dirname(path.rstrip(os.sep))),
                os.path.basename(path.rstrip(os.sep)))
            relative = os.path.relpath(path, root)
            if relative == os.curdir or relative.startswith(os.pardir) \
                    or not os.path.lexists(path) or relative in found \
                    or any(relative == data
                           or relative.startswith(data + os.sep)
                           or data.startswith(relative + os.sep)
                           for data in OLD_DATA):
                continue
            found.append(relative)
        found.append(record)
    return found


def retire(root):
    """Move what the old profile installed (retired_paths) under
    RETIRED, keeping relative paths: slapos then neither runs nor checks
    any of it.  [relative path] moved."""
    moved = []
    for relative in retired_paths(root):
        destination = os.path.join(root, RETIRED, relative)
        n = 0
        while os.path.lexists(destination):  # an earlier, interrupted run
            n += 1
            destination = os.path.join(root, RETIRED, '%s.%s'
                                       % (relative, n))
        os.makedirs(os.path.dirname(destination), mode=0o700,
                    exist_ok=True)
        os.rename(os.path.join(root, relative), destination)
        moved.append(relative)
    return moved


def record_of(plan, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    layout = plan.layout
    return {
        'adopted-from': "SlapOS's re6stnet release",
        'date': now.strftime(ca.TIME_FORMAT),
        'ca-fingerprint': plan.fingerprint,
        'ipv6-prefix': plan.ipv6_prefix,
        'key-size': plan.key_size,
        'main-node': plan.main_node,
        'main-node-email': plan.main_email,
        'nodes': plan.nodes,
        'tokens': {t.reference: t.token for t in plan.tokens},
        # what was read, so an operator can tell the old files unchanged
        'files': {p: files.sha256(layout.path(p))
                  for p in layout.files()
                  if os.path.isfile(layout.path(p))},
    }


def adopt(plan, target, now=None):
    """Copy what `plan` checked to `target` (the old files stay as they
    are), then write the record: returns it."""
    layout = plan.layout
    for path in target.paths() + (target.record,):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    files.write(target.key, files.read(layout.path(layout.key), binary=True),
                0o600, exclusive=True)
    files.write(target.cert, files.read(layout.path(layout.cert),
                                        binary=True), exclusive=True)
    if layout.dh:
        files.write(target.dh, files.read(layout.path(layout.dh),
                                          binary=True), exclusive=True)
    if layout.db:
        copy_db(layout.path(layout.db), target.db)
    write_tokens(target.tokens_db, plan.tokens)
    record = record_of(plan, now)
    record['retired'] = retire(layout.root)
    record['retired-to'] = RETIRED
    files.write(target.record, json.dumps(record, indent=2, sort_keys=True)
                + '\n', 0o600, exclusive=True)
    return record


def read_record(path):
    """The record of an adoption done, or None."""
    text = files.read(path)
    return json.loads(text) if text else None



def legacy_parameters(parameters):
    """(parameters, warnings): a request made for SlapOS's re6stnet
    release (instance-re6stnet-input-schema.json) as this release takes
    it.  Only values this release's schema would refuse are changed, each
    with a warning; Refusal for what cannot be kept (uri-scheme https)."""
    parameters = dict(parameters)
    warnings = []

    def drop(key, why):
        warnings.append('%s %s ignored: %s.' % (key, json.dumps(
            parameters.pop(key)), why))

    scheme = parameters.get('uri-scheme')
    if scheme is not None:
        if str(scheme).lower() == 'https':
            raise Refusal(
                'uri-scheme is https, which SlapOS\'s re6stnet release served'
                ' with a certificate of its own Apache: this release serves'
                ' nodes plain HTTP only (re6st signs what matters), so nodes'
                ' given the https URL would be left on a dead URL; keep'
                ' SlapOS\'s re6stnet release until every node uses an'
                ' http:// registry URL, then request without uri-scheme.')
        drop('uri-scheme', 'this release serves plain HTTP (as'
             ' SlapOS\'s re6stnet release did for "http")')
    if 'community-conf' in parameters:
        if 'community' in parameters:
            drop('community-conf', 'community is given too')
        else:
            parameters['community'] = parameters.pop('community-conf')
            warnings.append('community-conf (SlapOS\'s re6stnet release) is'
                            ' taken as community: rename it.')
    value = parameters.get('same-country')
    # a JSON list sent as a string is this release's own form
    if isinstance(value, str) and not value.strip().startswith('['):
        codes = [c.upper() for c in value.replace(',', ' ').split()]
        if codes:
            parameters['same-country'] = codes
            warnings.append('same-country %s taken as %s: give a list.' % (
                json.dumps(value), json.dumps(codes)))
        else:
            drop('same-country', 'empty')
    if str(parameters.get('min-protocol')) == '-1':
        drop('min-protocol', '-1 meant unset in SlapOS\'s re6stnet release:'
             ' the default applies')
    if str(parameters.get('max-clients')) == '0':
        drop('max-clients', '0 meant twice client-count in SlapOS\'s re6stnet'
             ' release, which is the default (null)')
    return parameters, warnings
