"""The public side of the registry: HAProxy's configuration.

Why HAProxy and not socat: socat holds one process and one registry
thread per connection and times nothing out but silence, so 64 idle
connections (or a few slow ones, one byte every few seconds) took it
down, and it passes any request, of any size, to the registry.  HAProxy
(Debian's package, run unprivileged in the foreground) answers the
public instead of the registry:

- the whole request head within 5 s, or the connection is closed
  (slowloris), and idle connections are closed;
- request heads of at most 16 KB, 32 headers, 4 KB of URL;
- GET of the public RPCs only, each with the query parameters it takes;
- per client (an IPv4 address or an IPv6 /64) and per network (IPv4 /24,
  IPv6 /48): concurrent connections (32, 128: room for 16 busy clients
  behind one address, whose closing connections HAProxy still counts a
  moment) and rates (100 connections a second, 400) bounded;
- many networks cannot fill it: once the frontend holds 2000 connections,
  a network holding 16 gets no more, from 6000 on one holding 4 (about
  750 networks before MAX_CONNECTIONS), so a client of another network
  always finds a free slot and is accepted at once (60 networks each at
  its 128 delayed getCa by up to 15 s behind a total of 2000); the
  kernel's queue (BACKLOG) holds bursts HAProxy has not accepted yet;
- clients whose requests made the registry fail (500, more than 5 a
  minute: each was a traceback in its log) refused for a while;
- at most MAX_BACKEND requests at once reach the registry (the rest wait
  in HAProxy, getCa first), always from `source`, an address the
  registry does not trust: no private RPC is ever allowed through it;
- X-Forwarded-For (and Forwarded) from clients are dropped, and
  X-Forwarded-For set to the client's own address (HAProxy's `src`), so
  that re6st-registry locates a node joining without --location by its
  address (its GeoIP lookup), not by the Host header; whatever it
  holds, the registry refuses private RPCs to the forward's `source`
  (nor does any client's admin secret header pass: lib.admin);
- HAProxy itself logs nothing.
"""
import ipaddress
import re

from .admin import HEADER as ADMIN_HEADER

# The registry's public RPCs (re6st.registry: @rpc, not @rpc_private), and
# the query each takes: a regular expression for HAProxy.
CN = '^cn=[01]{1,128}$'
PUBLIC_RPCS = {
    'getCa': '',
    'requestCertificate':
        '^(token|req|location|ip)=[^&]*(&(token|req|location|ip)=[^&]*)*$',
    'requestToken': '^email=[^&]*$',
    'hello': '^(client_prefix=[01]{1,128}|protocol=[0-9]{1,3})'
             '(&(client_prefix=[01]{1,128}|protocol=[0-9]{1,3}))*$',
    'renewCertificate': CN,
    'getDh': CN,
    'getNetworkConfig': CN,
    'getBootstrapPeer': CN,
    'getCountry': '^(cn=[01]{1,128}|address=[^&]{1,64})'
                  '&(cn=[01]{1,128}|address=[^&]{1,64})$',
}
MAX_BACKEND = 8
# Connections the frontend holds at most.  HAProxy needs two descriptors
# a connection and sizes its global maxconn from its file limit: it may use
# up to FD_LIMIT (fd-hard-limit), its hard limit permitting (a Debian
# node's services have 524 288; with fewer, it holds fewer connections).
MAX_CONNECTIONS = 8000
FD_LIMIT = 2 * MAX_CONNECTIONS + 100
# fd-hard-limit exists from HAProxy 2.5 on (Debian 11, a SlapOS node's
# system, has 2.2, which refuses the keyword): an older one sizes its
# global maxconn from its file limit as it is
FD_HARD_LIMIT_SINCE = (2, 5)
# Concurrent connections of one client (IPv4 address, IPv6 /64) and of one
# network (IPv4 /24, IPv6 /48)...
PER_CLIENT = 32
PER_NETWORK = 128
# ...and of one network once the frontend holds this many (each network
# then keeps at most its share: many networks cannot fill the frontend)
SHARE_FROM = [(2000, 16), (6000, 4)]
# The kernel's queue of connections not accepted yet (Linux caps it at
# net.core.somaxconn, 4096 by default).
BACKLOG = 4096
TEMPLATE = '''\
# Written by slapos_re6st:forward-config; do not edit.
# The public side of the registry (slapos_re6st/lib/forward.py).
global
%(fd_limit)s
    tune.bufsize 16384
    tune.http.maxhdr 32

defaults
    mode http
    timeout http-request 5s
    timeout http-keep-alive 2s
    timeout client 15s
    timeout connect 5s
    # getBootstrapPeer may hold the registry's lock for seconds
    timeout server 30s
    timeout queue 10s
    option http-server-close

frontend re6st-public
%(binds)s
    maxconn %(frontend_connections)s
    stick-table type ipv6 size 200k expire 120s store conn_cur,conn_rate(10s),http_req_rate(10s),gpc0,gpc0_rate(60s)
    tcp-request connection track-sc0 src,ipmask(32,64)
    tcp-request connection track-sc1 src,ipmask(24,48) table per-network
    tcp-request connection reject if { sc0_conn_cur gt %(per_client)s }
    tcp-request connection reject if { sc0_conn_rate gt 1000 }
    tcp-request connection reject if { sc1_conn_cur gt %(per_network)s }
%(shares)s
    tcp-request connection reject if { sc1_conn_rate gt 4000 }
    http-request deny deny_status 405 unless { method GET }
    http-request deny deny_status 404 unless { path %(paths)s }
    http-request deny deny_status 400 if { url_len gt 4096 }
%(queries)s
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000 }
    http-request deny deny_status 429 if { sc_gpc0_rate(0) gt 5 }
    http-request deny deny_status 429 if { sc_gpc0_rate(1) gt 30 }
    http-response sc-inc-gpc0(0) if { status 500 }
    http-response sc-inc-gpc0(1) if { status 500 }
    http-request del-header X-Forwarded-For
    http-request del-header Forwarded
    http-request del-header %(admin_header)s
    http-request set-header X-Forwarded-For %%[src]
    http-request set-priority-class int(-10) if { path /getCa }
    default_backend registry

backend per-network
    stick-table type ipv6 size 100k expire 120s store conn_cur,conn_rate(10s),gpc0,gpc0_rate(60s)

backend registry
    server registry %(registry)s source %(source)s maxconn %(max_backend)s
'''


def bind_line(address, port):
    """HAProxy's bind line for `address` (IPv4 or IPv6) and `port`."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return '    bind [%s]:%s v6only backlog %s' % (ip, port, BACKLOG)
    return '    bind %s:%s backlog %s' % (ip, port, BACKLOG)


def binds(listen, port, extra=(), redirect=None):
    """[(address, port)] the forward listens at: each address of `listen`
    at `port`, each (address, port) of `extra` and `redirect` (where the
    node's port redirection leads, see redirect_target); each pair
    once."""
    pairs = [(address, str(port)) for address in listen]
    pairs += [(address, str(p)) for address, p in extra]
    if redirect:
        pairs.append(redirect)
    found = []
    for address, p in pairs:
        pair = (str(ipaddress.ip_address(address)), str(p))
        if pair not in found:
            found.append(pair)
    return found


def redirect_target(address, port, taken=()):
    """(address, port) the host's IPv4 is redirected to: the partition's
    IPv4 `address`, at the first port after `port` not in `taken`.  Not
    `port` itself: slapos.core's portredir runs socat listening on every
    IPv4 address of the host at the source port, and Linux refuses that
    bind (EADDRINUSE) while any local address listens at that port."""
    taken = {str(p) for p in taken} | {str(port)}
    target = int(port) + 1
    while str(target) in taken:
        target += 1
    return str(ipaddress.ip_address(address)), str(target)


def port_redirects(source_ports, target):
    """The `.slapos-port-redirect` entries (slapos.core's portredir
    manager: the host's IPv4 at each of `source_ports` to the (address,
    port) `target`)."""
    address, port = target
    return [{'srcPort': int(p), 'destPort': int(port),
             'destAddress': address} for p in source_ports]


def render(listen, port, registry, source, extra=()):
    """The configuration: listening on each address of `listen` at
    `port`, and on each (address, port) of `extra`, forwarding to
    `registry` ("IPv4:port") from `source`."""
    return render_binds(binds(listen, port, extra), registry, source)


def haproxy_version(text):
    """(major, minor) of `haproxy -v`'s output; None if not found."""
    match = re.search(r'HA-?Proxy version (\d+)\.(\d+)', text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def fd_limit_line(version):
    """The global section's file limit line for HAProxy `version` (None:
    a recent one)."""
    if version is None or version >= FD_HARD_LIMIT_SINCE:
        return '    fd-hard-limit %s' % FD_LIMIT
    return ('    # (HAProxy %s.%s: its maxconn follows its file limit, which'
            ' it cannot cap)' % version)


def render_binds(pairs, registry, source, version=None):
    """The configuration: listening at each (address, port) of `pairs`,
    forwarding to `registry` ("IPv4:port") from `source`, for HAProxy
    `version` ((major, minor); None: a recent one)."""
    queries = []
    for rpc, query in sorted(PUBLIC_RPCS.items()):
        if query:
            queries.append(
                '    http-request deny deny_status 400 if { path /%s }'
                ' !{ query -m reg %s }' % (rpc, query))
        else:
            queries.append(
                '    http-request deny deny_status 400 if { path /%s }'
                ' { query -m len gt 0 }' % rpc)
    return TEMPLATE % {
        'binds': '\n'.join(bind_line(address, port)
                           for address, port in pairs),
        'paths': ' '.join('/' + rpc for rpc in sorted(PUBLIC_RPCS)),
        'queries': '\n'.join(queries),
        'registry': registry, 'source': source, 'max_backend': MAX_BACKEND,
        'admin_header': ADMIN_HEADER,
        'fd_limit': fd_limit_line(version), 'frontend_connections': MAX_CONNECTIONS,
        'per_client': PER_CLIENT, 'per_network': PER_NETWORK,
        'shares': '\n'.join(
            '    tcp-request connection reject if { fe_conn gt %s }'
            ' { sc1_conn_cur gt %s }' % pair for pair in SHARE_FROM)}
