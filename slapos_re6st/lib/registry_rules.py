"""The rules of a registry request that the schema cannot say: between
parameters (prefix lengths and the network's room, mailhost and the SMTP
options, the GeoIP2 database and what needs it), against what
re6st-registry reads or refuses (option values, ipv4-net, the installed
re6stnet's protocols, the community file: lib.community) and against the
host (files, git).  Each rule: values in, sentences out."""
import ipaddress
import os
import re
import shutil

from . import community, remote
from .sentences import HIDDEN, describe, shown
from .strings import INTEGER_TEXT

# Free-text parameters written as values of re6st-registry options
# (mailhost is checked stricter).
OPTION_VALUES = ('smtp-user', 'smtp-password')
# Characters that would end or garble a line of the registry's configuration
# (str.splitlines() splits on all of these).
LINE_BREAKING = re.compile('[\x00-\x1f\x7f\x85\u2028\u2029]')
HOSTNAME = re.compile(
    r'(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$')


def line_problems(values, schema):
    """What breaks the one-line rule in `values`: every string of the
    schema but the multi-line ones ("textarea") is one line without
    control characters, nor spaces around it (buildout strips the values
    it records).  jsonschema's patterns use Python's re, where $ also
    matches before a final line break: this is checked here instead."""
    found = []
    for name, prop in sorted(schema.get('properties', {}).items()):
        value = values.get(name)
        if not isinstance(value, str) or prop.get('textarea'):
            continue
        if LINE_BREAKING.search(value):
            found.append("%r is %s but must be on one line, without control"
                         " characters." % (name, shown(
                             name, value, prop.get('writeOnly'))))
        elif value != value.strip() and not prop.get('writeOnly'):
            found.append("%r is %s but must not start or end with spaces."
                         % (name, describe(value)))
    return found


def option_value_problems(values, secrets):
    """re6st-registry reads its configuration file as command line
    arguments: a value starting with - would be taken for an option, one
    starting with @ for a file to include.  `secrets`: the names of the
    secret parameters (their values never shown)."""
    return ["%r is %s but must not start with %s: re6st-registry's"
            " configuration would read it as %s." % (
                name, shown(name, values[name], name in secrets),
                values[name][0], 'an option' if values[name][0] == '-'
                else 'a file to include')
            for name in OPTION_VALUES
            if isinstance(values.get(name), str)
            and values[name][:1] in ('-', '@')]


def host_bits_advice(text, version, written=str, room=None):
    """For `text`, an IP (`version` 4 or 6) network ADDRESS/BITS with host
    bits set: the end of a sentence naming the network it lies in, what to
    request instead (a network as `written`(network) writes it) and, when
    it is shorter than `room` bits, the shortest prefix that starts at
    ADDRESS.  None for anything else.  It only advises: what was requested
    is refused, never changed."""
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        return None
    network = interface.network
    address = int(interface.ip)
    if interface.version != version or \
            address == int(network.network_address):
        return None
    advice = ('%s has host bits set: the network it lies in is %s; request'
              ' %s' % (text, network, written(network)))
    # the shortest prefix that ADDRESS is the network address of
    own = network.max_prefixlen - ((address & -address).bit_length() - 1)
    if own < (network.max_prefixlen if room is None else room):
        advice += (', or a prefix of at least %s bits that starts at %s,'
                   ' like %s, if that is the network you meant'
                   % (own, interface.ip,
                      written(ipaddress.ip_network((interface.ip, own)))))
    return advice


def ipv6_prefix_problems(values):
    prefix = values['ipv6-prefix']
    try:
        ipaddress.IPv6Network(prefix)
    except ValueError as e:
        advice = host_bits_advice(prefix, 6) or (
            'must be an IPv6 network with no host bits set, like'
            ' 2001:db8:42::/48 (%s)' % e)
        return ["'ipv6-prefix' is %s but %s." % (describe(prefix), advice)]
    return []


def community_problems(values):
    text = values['community']
    return community.community_problems(text) if text else []


def _length_problem(name, length, network, room, community_bits):
    if community_bits:
        return ("%r is %s but %s leaves room for %s bits, %s of which the"
                " longest community prefix takes: use a %s of at most %s,"
                " shorter community prefixes or a shorter ipv6-prefix."
                % (name, length, network, room, community_bits, name,
                   room - community_bits))
    return ("%r is %s but %s leaves room for %s bits: use a %s of at most %s"
            " or a shorter ipv6-prefix." % (name, length, network, room, name,
                                           room))


def prefix_length_problems(values):
    """The nodes' prefix lengths, and the longest community prefix, fit in
    the network's room (a valid ipv6-prefix and community only)."""
    try:
        network = ipaddress.IPv6Network(values['ipv6-prefix'])
    except ValueError:
        return []
    room = 128 - network.prefixlen
    text = values['community']
    community_bits = (community.longest_prefix(text) if text and not
                      community.community_problems(text) else 0)
    return [_length_problem(name, values[name], network, room,
                            community_bits)
            for name in ('prefix-length', 'anonymous-prefix-length')
            if values[name] + community_bits > room]


def forward_port_problems(values, registry_port):
    if values['forward-port'] == registry_port:
        return ["'forward-port' is %s, the registry's internal port: choose"
                " another port." % registry_port]
    return []


def _mailbox_problems(mailhost):
    if os.path.normpath(mailhost) != mailhost:
        return ["'mailhost' is %s but a mailbox file must be given by its"
                " normalised absolute path, like %s."
                % (describe(mailhost), describe(os.path.normpath(mailhost)))]
    if os.path.isdir(mailhost):
        return ["'mailhost' is %s, a directory, but must be a mailbox file"
                " (or an SMTP HOST[:PORT])." % describe(mailhost)]
    return []


def _smtp_host_problems(mailhost):
    try:
        ipaddress.IPv6Address(mailhost)
        return []
    except ValueError:
        pass
    host, _, port = mailhost.rpartition(':')
    if not host:
        host, port = port, ''
    if HOSTNAME.match(host) and not (port and not (
            port.isdigit() and 1 <= int(port) <= 65535)):
        return []
    return ["'mailhost' is %s but must be empty, an SMTP HOST or HOST:PORT"
            " (PORT from 1 to 65535; an IPv6 address without brackets nor"
            " port) or the absolute path of a mailbox file."
            % describe(mailhost)]


def _smtp_option_problems(values, what, secrets):
    """The SMTP options, with a mailhost that is `what` (None: an SMTP
    host)."""
    if what:
        return ["%r is %s but 'mailhost' is %s: %s is only used with an SMTP"
                " mailhost; set 'mailhost' to an SMTP HOST[:PORT] or leave %s"
                " unset." % (name, HIDDEN if name in secrets
                             else describe(values[name]), what, name, name)
                for name in ('smtp-user', 'smtp-password', 'smtp-starttls')
                if values[name]]
    if bool(values['smtp-user']) != bool(values['smtp-password']):
        return ["'smtp-user' is %s and 'smtp-password' is %s: the registry"
                " logs in to the SMTP mailhost only with both; set both or"
                " neither." % (describe(values['smtp-user']),
                               'set' if values['smtp-password'] else 'empty')]
    return []


def mailhost_problems(values, secrets):
    mailhost = values['mailhost']
    if mailhost.startswith('/'):
        return (_mailbox_problems(mailhost)
                + _smtp_option_problems(values, 'a mailbox file', secrets))
    if mailhost:
        return (_smtp_host_problems(mailhost)
                + _smtp_option_problems(values, None, secrets))
    return _smtp_option_problems(values, 'empty', secrets)


def ipv4_network(value):
    """(IPv4Network, PLEN) of an ipv4-net value; ValueError with a sentence
    if it is not one."""
    text, _, plen = value.partition(' ')
    advice = host_bits_advice(
        text, 4, lambda network: '"%s %s"' % (network, plen),
        int(plen) if INTEGER_TEXT.fullmatch(plen) else 0)
    if advice:
        raise ValueError("'ipv4-net' is %s but %s." % (describe(value),
                                                       advice))
    try:
        network, plen = value.split(' ')
        network = ipaddress.IPv4Network(network)
        plen = int(plen)
    except ValueError as e:
        raise ValueError(
            "'ipv4-net' is %s but must be \"IP/N PLEN\", IP/N an IPv4 network"
            " with no host bits set, like \"10.42.0.0/16 24\" (%s)."
            % (describe(value), e))
    if not network.prefixlen < plen <= 32:
        raise ValueError(
            "'ipv4-net' is %s but the length given to each node (%s) must be"
            " longer than the network's (%s) and at most 32."
            % (describe(value), plen, network.prefixlen))
    return network, plen


def ipv4_net_problems(values):
    if values['ipv4-net']:
        try:
            ipv4_network(values['ipv4-net'])
        except ValueError as e:
            return [str(e)]
    return []


def max_clients_problems(values):
    max_clients = values['max-clients']
    if max_clients is not None and max_clients < values['client-count']:
        return ["'max-clients' is %s but must be at least client-count (%s),"
                " or null for twice client-count."
                % (max_clients, values['client-count'])]
    return []


def protocol_range():
    """(oldest, newest) re6st protocol that the installed re6stnet speaks."""
    from re6st import version
    return version.min_protocol, version.protocol


def min_protocol_problems(values):
    oldest, newest = protocol_range()
    if not oldest <= values['min-protocol'] <= newest:
        return ["'min-protocol' is %s but the release's re6stnet speaks"
                " protocols %s to %s: choose one of them."
                % (values['min-protocol'], oldest, newest)]
    return []


def geoip2_problem(path):
    """Why re6st-registry could not locate nodes with the database at
    `path` as it does it (geoip2's Reader(path).country), as the end of a
    sentence; None if it can."""
    from geoip2 import database, errors
    try:
        reader = database.Reader(path)
    except OSError as e:
        return ("it cannot be read (%s): make it readable by the partition's"
                " user" % e.strerror)
    except Exception as e:  # maxminddb.InvalidDatabaseError, ValueError...
        return 'that is no MaxMind DB file (%s)' % e
    try:
        reader.country('192.0.2.1')
    except errors.AddressNotFoundError:
        pass
    except TypeError:
        return ('that is a %s database, not a country database: give a'
                ' GeoIP2 or GeoLite2 Country database (.mmdb), which the'
                ' registry asks for countries'
                % reader.metadata().database_type)
    except Exception as e:
        return 'geoip2 cannot read it (%s)' % e
    finally:
        reader.close()
    return None


def _mmdb_problems(mmdb):
    if not os.path.isabs(mmdb):
        return ["'geoip2-mmdb' is %s but must be an absolute path."
                % describe(mmdb)]
    if not os.path.isfile(mmdb):
        return ["'geoip2-mmdb' is %s but there is no such file on this host:"
                " install a GeoIP2 or GeoLite2 Country database there, or"
                " leave it empty." % describe(mmdb)]
    problem = geoip2_problem(mmdb)
    return ["'geoip2-mmdb' is %s but %s." % (describe(mmdb), problem)
            ] if problem else []


def _located_without_geoip2(values):
    found = []
    if values['same-country']:
        found.append("'same-country' is %s but the registry can only tell"
                     " the country of nodes with a GeoIP2 database: set"
                     " 'geoip2-mmdb' too, or leave same-country empty."
                     % describe(values['same-country']))
    locations = community.located(values['community'])
    if locations:
        found.append("'community' names the locations %s but the registry"
                     " can only locate nodes with a GeoIP2 database: set"
                     " 'geoip2-mmdb' too, or keep only the default line (*)."
                     % ', '.join(locations))
    return found


def geoip2_problems(values):
    if values['geoip2-mmdb']:
        return _mmdb_problems(values['geoip2-mmdb'])
    return _located_without_geoip2(values)


def host_node_run_problems(values):
    run = values['host-node-run']
    if os.path.normpath(run) != run:
        return ["'host-node-run' is %s but must be a normalised absolute"
                " path, like %s." % (describe(run),
                                     describe(os.path.normpath(run)))]
    return []


def repository_problems(values):
    url = values['backup-repository']
    if not url:
        return []
    try:
        parsed = remote.parse(url)
    except ValueError as e:
        return [str(e)]
    found = []
    if not shutil.which('git'):
        found.append("'backup-repository' is set but git is not installed on"
                     " this host: install it (Debian: apt-get install git),"
                     " or leave backup-repository empty.")
    if parsed.kind == 'ssh' and not shutil.which('ssh'):
        found.append("'backup-repository' is an ssh URL but ssh is not"
                     " installed on this host: install it (Debian: apt-get"
                     " install openssh-client), or use an https URL.")
    return found


def problems(values, registry_port, secrets):
    """Every rule on `values` (a request valid against its schema, defaults
    filled in), in the order a user reads them; `secrets`: the names of
    the secret parameters."""
    found = option_value_problems(values, secrets)
    for rule in (ipv6_prefix_problems, community_problems,
                 prefix_length_problems):
        found += rule(values)
    found += forward_port_problems(values, registry_port)
    found += mailhost_problems(values, secrets)
    for rule in (ipv4_net_problems, max_clients_problems,
                 min_protocol_problems, geoip2_problems,
                 host_node_run_problems, repository_problems):
        found += rule(values)
    return found
