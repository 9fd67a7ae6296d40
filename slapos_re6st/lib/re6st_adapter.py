"""Every change the release makes to re6st's behaviour, in one place,
written for one re6stnet version (RE6STNET_VERSION) and refusing any other
(check_version): each change below relies on that version's code.

- parse: re6st-registry's own parser and checks run on a configuration,
  stopped before it logs or starts anything (for the recipes, the service
  and the tests);
- harden: against an outsider, what re6stnet 0.642 lacks:
  - a request the registry fails on (a malformed CSR in
    requestCertificate, an unknown prefix in hello: anyone can send them)
    is logged at WARNING with its whole request line and a traceback,
    about 48 KB each: it becomes one short line (the RPC and the
    exception's type, never the query, which holds tokens), at most BURST
    a minute, then one line telling how many were left out
    (RequestErrors);
  - the access log it writes to standard error for every request (the
    service's output log) loses its query string: tokens of addToken and
    requestCertificate (access_log);
  - a connection idle for TIMEOUT seconds is closed, and request heads are
    bounded (MAXHEADERS lines of MAXLINE bytes), also on its own, private,
    address;
  - its listen backlog is LISTEN_BACKLOG instead of 5: with more
    concurrent clients than 5, connections overflowed it and waited for a
    SYN retry (about 1 s);
  - its log, reopened on SIGUSR1 (the rotation), loses no line
    (reopen_later);
- ScaledRegistryServer: re6st's RegistryServer whose cost per request does
  not grow with the number of nodes (see its docstring), with exactly
  re6st's results;
- guard_private: its private RPCs (addToken, revoke, ...) answered only
  to requests carrying the partition's admin secret (lib.admin), checked
  before re6st sees them: re6st trusts a peer's address only, and any
  local user may connect from 127.0.0.1;
- serve: re6st-registry's own main() with all of the above.
"""
import binascii
import calendar
import datetime
import heapq
import http.client
import importlib.metadata
import logging
import sys
import threading
import time

from OpenSSL import crypto
from re6st import registry, utils, x509

RE6STNET_VERSION = '0.642'
TIMEOUT = 30
MAXHEADERS = 32
MAXLINE = 8192
BURST = 20
LISTEN_BACKLOG = 128


class UnsupportedVersion(RuntimeError):
    """The installed re6stnet is not the one this module was written for."""


def installed_version():
    return importlib.metadata.version('re6stnet')


def check_version(version=None):
    """UnsupportedVersion unless re6stnet RE6STNET_VERSION is installed."""
    version = installed_version() if version is None else version
    if version != RE6STNET_VERSION:
        raise UnsupportedVersion(
            'slapos_re6st.lib.re6st_adapter changes the behaviour of'
            ' re6stnet %s, but re6stnet %s is installed: install re6stnet'
            ' %s, or port the adapter (and docs/re6stnet-%s-scale.patch) to'
            ' %s first.' % (RE6STNET_VERSION, version, RE6STNET_VERSION,
                            RE6STNET_VERSION, version))


class _replaced:
    """Attributes of objects set to other values for the time of a `with`
    block, put back after it (in reverse order)."""

    def __init__(self, *triples):
        self.triples = triples

    def __enter__(self):
        self.saved = [(obj, name, getattr(obj, name))
                      for obj, name, _ in self.triples]
        for obj, name, value in self.triples:
            setattr(obj, name, value)

    def __exit__(self, *exc):
        for obj, name, value in reversed(self.saved):
            setattr(obj, name, value)


# -- the configuration, read by re6st-registry's own parser ------------------

class Refused(ValueError):
    """re6st-registry refuses a configuration: its own message."""


class _Parsed(Exception):
    pass


def parse(path):
    """The options re6st-registry makes of `re6st-registry @path`: its own
    parser and its own checks (min-protocol range, ipv4), stopped just
    before it would log or start anything.  Refused (with re6st-registry's
    message) if it refuses the file."""
    check_version()
    from re6st.cli import registry as cli
    parsed = []

    def server(config):
        parsed.append(config)
        raise _Parsed

    def refuse(self, message):
        raise Refused(message)

    with _replaced((sys, 'argv', ['re6st-registry', '@' + path]),
                   (cli.utils, 'setupLog', lambda *a, **kw: None),
                   (cli.registry, 'RegistryServer', server),
                   (cli.utils.ArgParser, 'error', refuse)):
        try:
            cli.main()
        except _Parsed:
            pass
    return parsed[0]


# -- against an outsider -------------------------------------------------------

class RequestErrors(logging.Filter):
    """Shortens and bounds the registry's logging of failed requests."""

    def __init__(self, burst=BURST, clock=time.time):
        super().__init__()
        self.burst = burst
        self.clock = clock
        self.lock = threading.Lock()
        self.minute = self.count = self.left_out = 0

    def filter(self, record):
        message = record.msg
        if not (record.exc_info and isinstance(message, str)
                and message.startswith(('GET ', 'HEAD ', 'POST '))):
            return True
        error = record.exc_info[1]
        record.msg = '%s: %s' % (
            message.split('?', 1)[0].split(' HTTP/')[0], type(error).__name__)
        record.args = ()
        record.exc_info = record.exc_text = None
        with self.lock:
            minute = int(self.clock() // 60)
            if minute != self.minute:
                if self.left_out:
                    record.msg += (' (%s more failed requests were not logged'
                                   ' in the minute before)' % self.left_out)
                self.minute, self.count, self.left_out = minute, 0, 0
            self.count += 1
            if self.count > self.burst:
                self.left_out += 1
                return False
        return True


def access_log(handler, format, *args):
    """BaseHTTPRequestHandler.log_message without the query string."""
    path = getattr(handler, 'path', '-').split('?', 1)[0]
    sys.stderr.write('%s - - [%s] %s %s\n' % (
        handler.address_string(), handler.log_date_time_string(), path,
        ' '.join(str(arg) for arg in args[1:])))


def reopen_later(handler, *_):
    """re6st's FileHandler.async_reopen, its SIGUSR1 handler, reopens the
    log at once when the handler's lock is free; the lock is reentrant, so
    it is "free" in the thread the signal interrupts in the middle of
    writing a line, and the file is closed under that line, which is lost.
    Here the log is only marked: re6st's release() reopens it at the end of
    the next line."""
    handler._reopen = True


def harden():
    """Set re6st-registry's request handling and logging as above (for
    the whole process: the service's; before re6st sets its log up)."""
    check_version()
    from re6st import utils
    from re6st.cli import registry as cli
    utils.FileHandler.async_reopen = reopen_later
    logging.getLogger().addFilter(RequestErrors())
    cli.RequestHandler.timeout = TIMEOUT
    cli.RequestHandler.log_message = access_log
    # HTTPServer6 is a subclass of HTTPServer4
    cli.HTTPServer4.request_queue_size = LISTEN_BACKLOG
    http.client._MAXHEADERS = MAXHEADERS
    http.client._MAXLINE = MAXLINE


def guard_private(server, secret):
    """The RegistryServer `server` answering its private RPCs only to
    requests whose header admin.HEADER holds `secret`; others get 403 and
    admin.REFUSED, before re6st sees them (re6st's own check of the peer's
    address follows).  re6st's request handler calls
    server.handle_request(handler, method, query)."""
    from . import admin
    handle_request = server.handle_request

    def guarded(request, method, kw):
        m = getattr(server, method, None)
        if hasattr(m, '_private') and not admin.allowed(
                secret, request.headers.get(admin.HEADER)):
            return request.send_error(http.client.FORBIDDEN, admin.REFUSED)
        return handle_request(request, method, kw)
    server.handle_request = guarded
    return server


# -- a registry whose cost per request does not grow with its size -----------

_BEGIN = b'-----BEGIN CERTIFICATE-----'
_END = b'-----END CERTIFICATE-----'
_SERIAL_OID = b'\x06\x03\x55\x04\x05'


class Unusual(Exception):
    """Not a certificate as re6st writes them: read it with OpenSSL."""


def _tlv(d, i):
    tag = d[i]
    n = d[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        if not 0 < k <= 4:
            raise Unusual
        n = int.from_bytes(d[i:i + k], 'big')
        i += k
    return tag, i, i + n


def cert_fields(pem):
    """(subject serialNumber or None, notAfter as re6st's x509.notAfter
    gives it) of the PEM certificate `pem`, read from its DER directly
    (5 times faster than OpenSSL and strptime, for the 100 000 certificates
    read at start); Unusual for anything but what re6st writes (one
    certificate filling the PEM block, UTCTime or GeneralizedTime in Z,
    the serial a PrintableString or UTF8String)."""
    if isinstance(pem, str):
        pem = pem.encode('ascii')
    if not pem.startswith(_BEGIN):
        raise Unusual
    end = pem.find(_END)
    if end < 0:
        raise Unusual
    d = binascii.a2b_base64(pem[len(_BEGIN):end])
    tag, s, e = _tlv(d, 0)
    if tag != 0x30 or e != len(d):
        raise Unusual
    tag, i, te = _tlv(d, s)
    if tag != 0x30 or te > e:
        raise Unusual
    tag, cs, ce = _tlv(d, i)
    if tag == 0xa0:
        tag, cs, ce = _tlv(d, ce)
    if tag != 0x02:
        raise Unusual
    for expected in 0x30, 0x30:          # signature algorithm, issuer
        tag, cs, ce = _tlv(d, ce)
        if tag != expected:
            raise Unusual
    tag, vs, ve = _tlv(d, ce)            # validity
    if tag != 0x30:
        raise Unusual
    tag, cs, ce = _tlv(d, vs)            # notBefore
    tag, ts, tend = _tlv(d, ce)          # notAfter
    t = d[ts:tend]
    if tag == 0x17 and len(t) == 13 and t[12:] == b'Z':
        year = int(t[:2])
        year += 1900 if year >= 50 else 2000
        t = t[2:]
    elif tag == 0x18 and len(t) == 15 and t[14:] == b'Z':
        year = int(t[:4])
        t = t[4:]
    else:
        raise Unusual
    if not t[:10].isdigit():
        raise Unusual
    month, day, hour, minute, second = (int(t[k:k + 2]) for k in range(0, 10, 2))
    if second > 59:
        raise Unusual
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise Unusual
    not_after = calendar.timegm((year, month, day, hour, minute, second))
    tag, ss, se = _tlv(d, ve)            # subject
    if tag != 0x30:
        raise Unusual
    serial = None
    i = ss
    while i < se:
        tag, rs, re_ = _tlv(d, i)
        if tag != 0x31:
            raise Unusual
        j = rs
        while j < re_:
            tag, a, b = _tlv(d, j)
            if tag != 0x30:
                raise Unusual
            if d[a:a + 5] == _SERIAL_OID:
                vtag, x, y = _tlv(d, a + 5)
                if vtag not in (0x13, 0x0c):
                    raise Unusual
                return d[x:y].decode('utf-8'), not_after
            j = b
        i = re_
    return serial, not_after


def _key(prefix):
    """A prefix ('0101') as one int: its bits after a leading 1."""
    return int('1' + prefix, 2)


def _prefix(key):
    return bin(key)[3:]


# subject serials below this are counted in a bytearray, the others (and
# any that is not a plain number) apart
_DENSE = 1 << 24
_SERIAL_BITS = 32
_ODD = (1 << _SERIAL_BITS) - 1   # the serial is in _odd_serials
_NONE = _ODD - 1                 # no subject serial


class ScaledRegistryServer(registry.RegistryServer):
    """re6st's RegistryServer, with exactly its results (the same subject
    serials, the same certificates expired, tokens dropped, prefixes
    allocated, freed and merged, at the same times), without its scans of
    every certificate under the global lock:

    - getSubjectSerial (smallest free subject serial) parsed every
      certificate: the serials in use are counted in memory;
    - onTimeout, run after every certificate and token, parsed every
      certificate again to find those past their end plus the grace period
      and the next such time: the ends are kept in a heap; it ran
      mergePrefixes, whose queries read the whole table several times: it
      runs it (as re6st's own code does, on the free rows kept in memory)
      only when a free row has a free sibling, which is the only case it
      changes anything;
    - newPrefix read the whole table for the longest free prefix: the free
      rows (few) are kept in memory, ties broken as SQLite's sort does
      (the first in table order, rowid);
    - getNodePrefix (and getIPv6Address) read the whole table for an
      email: an index on cert(email) serves the same query (its first row
      is the same: equal keys are in rowid order);
    - requestCertificate committed each of its 5 to 8 statements (each
      commit waits for the disk, under the lock): they are one transaction,
      committed also when it fails midway (as each statement was).

    What is in memory is read from the database when the server starts
    (its first onTimeout, as re6st's own start reads every certificate),
    again after anything fails midway, and again when another process
    changed the database meanwhile (sqlite's data_version: re6st-restore
    writes it under the running registry before restarting it).
    """

    _state = None

    # -- what is kept in memory ---------------------------------------------

    def _load(self):
        """Everything kept in memory, read from the database."""
        q = self.db.execute
        q("CREATE INDEX IF NOT EXISTS cert_email ON cert(email)")
        self._data_version, = q("PRAGMA data_version").fetchone()
        self._certs = {}        # key(prefix) -> not_after << 32 | serial
        self._expiry = []       # heap of not_after << 160 | key(prefix)
        self._count = bytearray(1024)   # subject serials < _DENSE in use
        self._odd_serials = {}  # key -> subject serial not in 0.._DENSE-1
        self._odd = {}          # such serial -> count
        self._top = 0           # every free serial below it is in _free
        self._free = []
        self._duplicates = 0
        self._free_rows = {}    # length -> {prefix: rowid}, cert is null
        self._changed = None    # free rows changed since the last merge
        for rowid, prefix, cert in q(
                "SELECT rowid, prefix, cert FROM cert"):
            if cert is None:
                self._free_rows.setdefault(len(prefix), {})[prefix] = rowid
            else:
                self._set_cert(prefix, cert)
        # past the serials in use from 0 (once, not in a request)
        count = self._count
        while self._top < len(count) and count[self._top]:
            self._top += 1
        self._state = True

    def _ready(self):
        # data_version changes when another connection changed the
        # database (re6st-restore writes it under a running registry)
        if not self._state or self._data_version != self.db.execute(
                "PRAGMA data_version").fetchone()[0]:
            self._load()

    def _forget(self):
        """Read everything from the database again before the next use."""
        self._state = None

    def _serial_add(self, key, serial, n):
        if serial is _NONE:
            return
        if serial is _ODD:
            value = self._odd_serials[key]
            count = self._odd.get(value, 0) + n
            if count:
                self._odd[value] = count
            else:
                del self._odd[value]
            return
        count = self._count
        if serial >= len(count):
            count.extend(bytes(max(serial + 1 - len(count), len(count))))
        old = count[serial]
        new = old + n
        if new > 255:
            raise OverflowError('subject serial %s used 256 times' % serial)
        count[serial] = new
        self._duplicates += max(new, 1) - max(old, 1)
        if not new and serial < self._top:
            heapq.heappush(self._free, serial)

    def _set_cert(self, prefix, pem):
        """The row of `prefix` holds certificate `pem` (None: its cert
        column is null, i.e. the row is free; something re6st cannot read
        as a certificate: neither)."""
        key = _key(prefix)
        old = self._certs.pop(key, None)
        if old is not None:
            self._serial_add(key, old & _ODD, -1)
            self._odd_serials.pop(key, None)
        free = self._free_rows.get(len(prefix))
        if free and prefix in free:
            del free[prefix]
        if pem is None:
            return
        try:
            serial, not_after = cert_fields(pem)
        except (Unusual, ValueError, IndexError, binascii.Error):
            # re6st's own way
            try:
                cert = crypto.load_certificate(crypto.FILETYPE_PEM, pem)
            except crypto.Error:   # as re6st's iterCert: not a certificate
                return
            serial = cert.get_subject().serialNumber
            not_after = x509.notAfter(cert)
        if not serial:
            value = _NONE
        else:
            try:
                value = int(serial)
            except ValueError:
                value = -1
            if not 0 <= value < _DENSE:
                self._odd_serials[key] = serial
                value = _ODD
        self._certs[key] = not_after << _SERIAL_BITS | value
        heapq.heappush(self._expiry, not_after << 160 | key)
        self._serial_add(key, value, 1)

    def _set_free(self, prefix, rowid):
        """The row `rowid` is free (cert null), with this prefix now."""
        self._set_cert(prefix, None)
        self._free_rows.setdefault(len(prefix), {})[prefix] = rowid
        if self._changed is not None:
            self._changed.add(prefix)

    def _rowid(self, prefix):
        return self.db.execute("SELECT rowid FROM cert WHERE prefix=?",
                               (prefix,)).fetchone()[0]

    def _next_end(self):
        """The earliest end (notAfter) of a certificate in the database."""
        heap = self._expiry
        while heap:
            not_after, key = heap[0] >> 160, heap[0] & ((1 << 160) - 1)
            value = self._certs.get(key)
            if value is not None and value >> _SERIAL_BITS == not_after:
                return not_after
            heapq.heappop(heap)

    # -- re6st's methods, the same results -------------------------------------

    def getSubjectSerial(self):
        # Smallest unique number, for IPv4 support.
        self._ready()
        if self._odd or self._duplicates:
            # what re6st's own loop gives, also for serials that are
            # repeated, negative or not numbers (int() raises as there)
            serials = sorted(
                [int(v) for v in self._odd_serials.values()]
                + [serial for serial, n in enumerate(self._count)
                   for _ in range(n)])
            for serial, x in enumerate(serials):
                if serial != x:
                    return serial
            return len(serials)
        free, count = self._free, self._count
        while free and free[0] < len(count) and count[free[0]]:
            heapq.heappop(free)
        if free:
            return free[0]
        while self._top < len(count) and count[self._top]:
            self._top += 1
        return self._top

    def createCertificate(self, client_prefix, subject, pubkey,
                          not_after=None):
        cert = super().createCertificate(client_prefix, subject, pubkey,
                                         not_after)
        try:
            self._ready()
            self._set_cert(client_prefix, cert)
        except BaseException:
            self._forget()
            raise
        return cert

    def newPrefix(self, prefix_len, community):
        logging.info("Allocating /%u prefix for %s", prefix_len, community)
        self._ready()
        community_len = len(community)
        prefix_len += community_len
        max_len = 128 - len(self.network)
        assert 0 < prefix_len <= max_len
        q = self.db.execute
        while True:
            # Find longest free prefix whithin community (re6st's query
            # gives the first row in table order among the longest).
            prefix = None
            for length in sorted(self._free_rows, reverse=True):
                if length > prefix_len:
                    continue
                if length < community_len:
                    break
                found = [(rowid, p) for p, rowid
                         in self._free_rows[length].items()
                         if p.startswith(community)]
                if found:
                    prefix = min(found)[1]
                    break
            if prefix is None:
                # Community not yet allocated?
                # There should be exactly 1 row whose
                # prefix is the beginning of community.
                row = q("SELECT prefix, cert FROM cert WHERE prefix IN (%s)"
                        " ORDER BY rowid" % ','.join('?' * (community_len + 1)),
                        [community[:i] for i in range(community_len + 1)]
                        ).fetchone()
                if row is None:
                    raise StopIteration
                prefix, x = row
                if x is not None:
                    logging.error('No more free /%u prefix available',
                                  prefix_len)
                    raise StopIteration
            # Split the tree until prefix has wanted length.
            for x in range(len(prefix), prefix_len):
                # Prefix starts with community, then we complete with 0.
                x = community[x] if x < community_len else '0'
                q("UPDATE cert SET prefix = ? WHERE prefix = ?",
                  (prefix + str(1-int(x)), prefix))
                rowid = self._free_rows.get(len(prefix), {}).pop(prefix, None)
                if rowid is None:
                    rowid = self._rowid(prefix + str(1-int(x)))
                self._set_free(prefix + str(1-int(x)), rowid)
                prefix += x
                rowid = q("INSERT INTO cert VALUES (?,null,null)",
                          (prefix,)).lastrowid
                self._set_free(prefix, rowid)
            if len(prefix) < max_len or '1' in prefix[community_len:]:
                return prefix
            q("UPDATE cert SET cert = 'reserved' WHERE prefix = ?", (prefix,))
            self._set_cert(prefix, 'reserved')

    def mergePrefixes(self):
        logging.debug("Merging prefixes")
        self._ready()
        changed, self._changed = self._changed, set()
        free = self._free_rows
        if changed is not None and not any(
                p and p[:-1] + '01'[p[-1] == '0'] in free.get(len(p), ())
                for p in changed if p in free.get(len(p), ())):
            return  # no free row has a free sibling: re6st merges nothing
        # re6st's loop, on the free rows in memory instead of its queries
        q = self.db.execute
        prev_prefix = None
        max_len = 128
        while True:
            lengths = [n for n, rows in free.items() if rows and n < max_len]
            if not lengths or not max(lengths):
                break
            max_len = max(lengths)
            for prefix in sorted(free[max_len]):
                if prev_prefix and prefix[:-1] == prev_prefix[:-1]:
                    q("UPDATE cert SET prefix = ? WHERE prefix = ?",
                      (prefix[:-1], prev_prefix))
                    rowid = free[max_len].pop(prev_prefix)
                    q("DELETE FROM cert WHERE prefix = ?", (prefix,))
                    del free[max_len][prefix]
                    free.setdefault(max_len - 1, {})[prefix[:-1]] = rowid
                    prev_prefix = None
                else:
                    prev_prefix = prefix
        self._changed = set()

    def onTimeout(self):
        logging.info("Checking if there's any old entry in the database ...")
        old = time.time() - self.config.grace_period
        q = self.db.execute
        with self.lock, self.db:
            try:
                self._ready()
                q("BEGIN")
                q("DELETE FROM token WHERE date <= ?", (old,))
                not_after, = q("SELECT min(date) FROM token").fetchone()
                expired = set()
                heap = self._expiry
                while heap and heap[0] >> 160 <= old:
                    entry = heapq.heappop(heap)
                    key = entry & ((1 << 160) - 1)
                    value = self._certs.get(key)
                    if (value is not None
                            and value >> _SERIAL_BITS == entry >> 160):
                        expired.add(_prefix(key))
                if self.prefix in expired:
                    logging.critical(
                        "Refuse to delete certificate of main node:"
                        " wrong clock ? Alternatively, the database"
                        " might be in an inconsistent state.")
                    sys.exit(1)
                for prefix in sorted(expired):
                    email, cert = q("SELECT email, cert FROM cert"
                                    " WHERE prefix=?", (prefix,)).fetchone()
                    cert = crypto.load_certificate(crypto.FILETYPE_PEM, cert)
                    logging.info("Delete %s: %s (invalid since %s)",
                        "certificate requested by '%s'" % email
                        if email else "anonymous certificate",
                        ", ".join("%s=%s" % x for x in
                                  cert.get_subject().get_components()),
                        datetime.datetime.utcfromtimestamp(
                            x509.notAfter(cert)).isoformat())
                    q("UPDATE cert SET email=null, cert=null WHERE prefix=?",
                      (prefix,))
                    self._set_free(prefix, self._rowid(prefix))
                self.mergePrefixes()
                x = self._next_end()
                if x is not None and (not_after is None or x < not_after):
                    not_after = x
                self.timeout = not_after and not_after + self.config.grace_period
            except BaseException:
                self._forget()
                raise

    @registry.rpc
    def requestCertificate(self, token, req, location='', ip=''):
        # re6st's, its statements in one transaction: one commit (one wait
        # for the disk under the global lock) instead of one per statement;
        # committed also when it fails midway, as each statement was
        logging.debug("Requesting certificate with token %s", token)
        req = crypto.load_certificate_request(crypto.FILETYPE_PEM, req)
        with self.lock:
            self.db.execute("BEGIN")
            try:
                if token:
                    if not self.config.prefix_length:
                        raise registry.HTTPError(http.client.FORBIDDEN)
                    try:
                        token, email, prefix_len, _ = next(self.db.execute(
                            "SELECT * FROM token WHERE token = ?",
                            (token,)))
                    except StopIteration:
                        return
                    self.db.execute("DELETE FROM token WHERE token = ?",
                                    (token,))
                else:
                    prefix_len = self.config.anonymous_prefix_length
                    if not prefix_len:
                        raise registry.HTTPError(http.client.FORBIDDEN)
                    email = None
                country, continent = '*', '*'
                if self.geoip_db:
                    country, continent = location.split(',') if location else self._geoiplookup(ip)
                    if continent != '*':
                        continent = '@' + continent
                prefix = self.newPrefix(prefix_len, self.getCommunity(country, continent))
                self.db.execute("UPDATE cert SET email = ? WHERE prefix = ?",
                                (email, prefix))
                if self.prefix is None:
                    self.prefix = prefix
                    self.setConfig('prefix', prefix)
                    self.updateNetworkConfig()
                subject = req.get_subject()
                subject.serialNumber = str(self.getSubjectSerial())
                return self.createCertificate(prefix, subject, req.get_pubkey())
            finally:
                try:
                    self.db.execute("COMMIT")
                except BaseException:
                    self._forget()
                    if self.db.in_transaction:
                        self.db.rollback()
                    raise

    @registry.rpc_private
    def revoke(self, cn_or_serial):
        with self.lock, self.db:
            self._ready()
            q = self.db.execute
            try:
                serial = int(cn_or_serial)
            except ValueError:
                prefix = utils.binFromSubnet(cn_or_serial)
                cert = self.getCert(prefix)
                q("UPDATE cert SET email=null, cert=null WHERE prefix=?",
                  (prefix,))
                self._set_free(prefix, self._rowid(prefix))
                cert = crypto.load_certificate(crypto.FILETYPE_PEM, cert)
                serial = cert.get_serial_number()
                self.sessions.pop(prefix, None)
            else:
                # (an administrator's rare call: re6st's own scan)
                cert, = (cert for cert, prefix, email in self.iterCert()
                              if cert.get_serial_number() == serial)
            not_after = x509.notAfter(cert)
            if time.time() < not_after:
                q("INSERT INTO crl VALUES (?,?)", (serial, not_after))
                self.updateNetworkConfig()


def serve(argv, before_start=None, admin_secret=None):
    """re6st-registry with `argv` (like ['@etc/re6st-registry.conf']),
    hardened, with ScaledRegistryServer; `before_start(config)` is called
    before the server opens its database; with `admin_secret`, its private
    RPCs guarded (guard_private).  Never returns."""
    check_version()
    from re6st.cli import registry as cli
    harden()
    server_class = ScaledRegistryServer
    original = registry.RegistryServer

    def server(config):
        if before_start:
            # (which may run re6st's RegistryServer on the database)
            with _replaced((cli.registry, 'RegistryServer', original)):
                before_start(config)
        instance = server_class(config)
        if admin_secret is not None:
            guard_private(instance, admin_secret)
        return instance

    sys.argv[1:] = argv
    with _replaced((cli.registry, 'RegistryServer', server)):
        cli.main()
