"""re6st-registry as the release runs it (re6st-registry-service): the
same program, its configuration file unchanged, with what re6stnet 0.642
lacks against an outsider set from outside its code:

- a request the registry fails on (a malformed CSR in requestCertificate,
  an unknown prefix in hello: anyone can send them) is logged at WARNING
  with its whole request line and a traceback, about 48 KB each: it becomes
  one short line (the RPC and the exception's type, never the query, which
  holds tokens), at most BURST a minute, then one line telling how many
  were left out;
- the access log it writes to standard error for every request (the
  service's output log) loses its query string: tokens of addToken and
  requestCertificate;
- a connection idle for TIMEOUT seconds is closed, and request heads are
  bounded (MAXHEADERS lines of MAXLINE bytes), also on its own, private,
  address.

And with --main-node DIR, before it first serves anyone: its first
certificate, which makes its main node, is the host node's of DIR
(lib.host_node.issue), never anybody else's.
"""
import http.client
import logging
import sys
import threading
import time

TIMEOUT = 30
MAXHEADERS = 32
MAXLINE = 8192
BURST = 20
# what the registry records as the host node's owner
MAIN_NODE_EMAIL = 'host-node'


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
    """Set re6st-registry's request handling and logging as above."""
    from re6st.cli import registry as cli
    logging.getLogger().addFilter(RequestErrors())
    cli.RequestHandler.timeout = TIMEOUT
    cli.RequestHandler.log_message = access_log
    http.client._MAXHEADERS = MAXHEADERS
    http.client._MAXLINE = MAXLINE


def ensure_main_node(config_path, directory):
    """The host node of `directory` made the main node of the registry of
    the configuration `config_path`, if the registry has none yet; its
    copy of the CA the registry's (after a restore or a renewal)."""
    from ..lib import host_node, registry_config
    config = registry_config.parse(config_path)
    if host_node.main_node(config.db)[0] is None:
        name = host_node.issue(config, directory, MAIN_NODE_EMAIL)
        sys.stderr.write("re6st-registry-service: the host node (%s, %s)"
                         " is the registry's main node\n" % (name, directory))
    elif host_node.follow_ca(config, directory):
        sys.stderr.write("re6st-registry-service: the host node's CA (%s)"
                         " is the registry's again: restart the host node"
                         "\n" % directory)


def run(argv):
    """re6st-registry with `argv` (like ['@etc/re6st-registry.conf']);
    ['--main-node', DIR] first: see ensure_main_node."""
    from re6st.cli import registry as cli
    harden()
    if argv[:1] == ['--main-node']:
        directory, argv = argv[1], argv[2:]
        ensure_main_node(argv[0][1:], directory)
    sys.argv[1:] = argv
    cli.main()
