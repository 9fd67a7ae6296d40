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
- ScaledRegistryServer: re6st's RegistryServer whose cost per request does
  not grow with the number of nodes (see its docstring), with exactly
  re6st's results;
- guard_private: its private RPCs (addToken, revoke, ...) answered only
  to requests carrying the partition's admin secret (lib.admin), checked
  before re6st sees them: re6st trusts a peer's address only, and any
  local user may connect from 127.0.0.1;
- serve: re6st-registry's own main() with all of the above.
"""
import heapq
import http.client
import importlib.metadata
import logging
import sys
import threading
import time

from re6st import registry

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


def harden():
    """Set re6st-registry's request handling and logging as above (for
    the whole process: the service's)."""
    check_version()
    from re6st.cli import registry as cli
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


def serve(argv, before_start=None, admin_secret=None):
    """re6st-registry with `argv` (like ['@etc/re6st-registry.conf']),
    hardened, with ScaledRegistryServer; `before_start(config)` is called
    before the server opens its database; with `admin_secret`, its private
    RPCs guarded (guard_private).  Never returns."""
    check_version()
    from re6st.cli import registry as cli
    harden()
    server_class = registry.RegistryServer
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
