"""The request validated against instance-input-schema.json.

Every default is stated once, in the schema; every problem becomes one
sentence naming the parameter, its value and what is allowed.  Nothing is
created before the whole request is known to be valid.

Parameters may come as strings (`slapos request --parameters NAME=VALUE`,
and any request in plain XML, sends nothing else): before validation, a
string given for a property whose declared type does not admit strings
becomes the value it stands for (typed()), and the rest of the code only
ever sees that value.

Secret parameters (``"writeOnly": true`` in the schema: smtp-password,
backup-repository) are validated like the others but their value is never
shown in a sentence (see slap.hide_secrets).
"""
import ipaddress
import json
import os
import re
import shutil

import jsonschema

from . import remote

HIDDEN = '(not shown)'
# Free-text parameters written as values of re6st-registry options (mailhost
# is checked stricter), and which
# of them are secrets.
OPTION_VALUES = ('smtp-user', 'smtp-password')
SECRET_OPTIONS = ('smtp-password',)
# Characters that would end or garble a line of the registry's configuration
# (str.splitlines() splits on all of these).
LINE_BREAKING = re.compile('[\x00-\x1f\x7f\x85\u2028\u2029]')
# ... and those, but line breaks and tabs, in a multi-line text.
COMMUNITY_FORBIDDEN = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]')
# What a valid value looks like, for the sentences of schema errors whose
# schema keyword alone does not say it (pattern, uniqueItems, ...).
ALLOWED = {
    'ipv6-prefix': 'an IPv6 network like 2001:db8:42::/48',
    'mailhost': 'empty, an SMTP HOST[:PORT] or the absolute path of a'
                ' mailbox file, on one line',
    'smtp-user': 'a user name on one line',
    'smtp-password': 'a password on one line',
    'ipv4-net': 'empty or "IP/N PLEN", like "10.42.0.0/16 24"',
    'same-country': 'a list of distinct ISO 3166 alpha-2 country codes in'
                    ' upper case, like ["FR", "DE"]',
    'geoip2-mmdb': 'empty or the absolute path of a .mmdb file, on one line',
    'host-node-run': 'an absolute path, like /var/run/re6stnet',
    'host-node-ip': 'a list of distinct IPv4 or IPv6 addresses',
}
# The same, for an item of an array.
ALLOWED_ITEM = {
    'same-country': 'an ISO 3166 alpha-2 country code in upper case, like'
                    ' "FR"',
    'host-node-ip': 'an IPv4 or IPv6 address',
}
# Continent codes of GeoIP2 databases, as re6st's communities name them
# (with a leading @).
CONTINENTS = ('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA')
HOSTNAME = re.compile(
    r'(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$')
# An integer as a string: JSON's syntax of one (decimal digits, no leading
# zero, no + nor spaces).
INTEGER_TEXT = re.compile('-?(0|[1-9][0-9]*)')
# The strings that stand for a boolean (in any case) and for null.
BOOLEAN_TEXT = {'true': True, 'false': False}
NULL_TEXT = ('null', '')


def load_schema(path):
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _describe(value):
    return json.dumps(value)


def _is_secret(schema, name):
    return bool(schema.get('properties', {}).get(name, {}).get('writeOnly'))


def _shown(name, value, secret):
    """A value as a sentence shows it: a secret not at all, but the URL
    of backup-repository without its password."""
    if secret and name == 'backup-repository' and isinstance(value, str):
        return _describe(remote.redact(value))
    return HIDDEN if secret else _describe(value)


def _types(prop):
    types = prop.get('type', [])
    return types if isinstance(types, list) else [types]


def _from_text(text, types):
    """What the string `text` stands for among `types` (JSON Schema type
    names); `text` itself when it stands for none of them, which the
    validation then refuses for its type."""
    if 'string' in types:
        return text
    if 'null' in types and text in NULL_TEXT:
        return None
    if 'integer' in types and INTEGER_TEXT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            pass
    if 'boolean' in types and text.lower() in BOOLEAN_TEXT:
        return BOOLEAN_TEXT[text.lower()]
    if 'array' in types:
        try:
            value = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(value, list):
                return value
    return text


def typed(parameters, schema):
    """`parameters` with each string given for a property whose declared
    type admits no string replaced by the value it stands for: an integer
    in decimal digits ("16"), a boolean as "true" or "false" (in any case;
    not 1, 0, yes nor no), an array as its JSON text ('["FR", "DE"]'), and,
    where the type admits null, "null" or the empty string for null.  Any
    other string is left as it is, for the validation to refuse."""
    properties = schema.get('properties', {})
    return {name: _from_text(value, _types(properties[name]))
            if isinstance(value, str) and name in properties else value
            for name, value in parameters.items()}


def _integer_example(prop):
    for value in prop.get('default'), prop.get('minimum'):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1


def _type_forms(name, prop):
    """What a value of `prop`'s declared type may be sent as: its JSON
    value, and the strings typed() reads."""
    types = _types(prop)
    forms = 'a JSON %s' % ' or '.join(types)
    if 'string' in types:
        return forms
    texts = []
    if 'integer' in types:
        texts.append('decimal digits like "%s"' % _integer_example(prop))
    if 'boolean' in types:
        texts.append('"true" or "false"')
    if 'array' in types:
        texts.append('the JSON text of an array')
    if 'null' in types:
        texts.append('"null" or "" for null')
    if texts:
        forms += ', or a string: %s' % ', or '.join(texts)
    if 'array' in types and name in ALLOWED:
        forms += '; %s' % ALLOWED[name]
    return forms


def _schema_problem(error, schema):
    """One sentence for one jsonschema error."""
    known = sorted(schema.get('properties', ()))
    if not error.path:
        if error.validator == 'additionalProperties':
            unknown = sorted(set(error.instance) - set(known))
            return ('Unknown parameter%s %s: the known parameters are %s.'
                    % ('s' if len(unknown) > 1 else '',
                       ', '.join(map(repr, unknown)), ', '.join(known)))
        return 'The parameters %s.' % error.message
    name = error.path[0]
    prop = schema['properties'].get(name, {})
    value = _shown(name, error.instance, _is_secret(schema, name))
    subject = repr(name)
    if len(error.path) > 1:  # an item of an array
        subject = '%r item %s' % (name, error.path[1])
        prop = prop.get('items', {})
    if len(error.path) > 1 and name in ALLOWED_ITEM:
        allowed = ALLOWED_ITEM[name]
    elif error.validator == 'type':
        allowed = _type_forms(name if len(error.path) == 1 else None, prop)
    elif error.validator == 'enum':
        allowed = 'one of %s' % ', '.join(
            map(_describe, error.validator_value))
    elif error.validator in ('minimum', 'maximum'):
        allowed = 'an integer from %s to %s' % (
            prop.get('minimum', '-inf'), prop.get('maximum', 'inf'))
    else:
        allowed = (ALLOWED.get(name)
                   or prop.get('title', 'a valid value').lower())
        if error.validator == 'anyOf' and prop.get('format'):
            allowed = 'empty or %s' % allowed
    description = schema['properties'].get(name, {}).get('description', '')
    return ('%s is %s but must be %s (%s)'
            % (subject, value, allowed, description.rstrip('.')) + '.')


def defaults(schema):
    return {name: prop['default']
            for name, prop in schema.get('properties', {}).items()
            if 'default' in prop}


def schema_problems(parameters, schema):
    """What `parameters` break of `schema`, one sentence each."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [_schema_problem(e, schema) for e in sorted(
        validator.iter_errors(parameters), key=lambda e: list(e.path))]


def protocol_range():
    """(oldest, newest) re6st protocol that the installed re6stnet speaks."""
    from re6st import version
    return version.min_protocol, version.protocol


def community_entries(text):
    """[(line number, prefix, [location, ...])] of a community
    configuration, read as re6st-registry reads it: blank lines and lines
    starting with # are skipped, the others split on whitespace."""
    entries = []
    # re6st reads it as a text file: universal newlines
    for number, line in enumerate(re.split('\r\n|\r|\n', text), 1):
        line = line.strip()
        if line and not line.startswith('#'):
            fields = line.split()
            entries.append((number, fields[0], fields[1:]))
    return entries


def community_problems(text):
    """What re6st-registry would refuse, or silently misread, in a
    community configuration; one sentence each."""
    found = []
    if COMMUNITY_FORBIDDEN.search(text):
        return ["'community' contains control characters: only text lines"
                " (and tabs) are allowed."]
    entries = community_entries(text)

    def problem(number, what):
        found.append("'community' line %s %s." % (number, what))

    seen_prefix = {}
    seen_location = {}
    for number, prefix, locations in entries:
        if not re.fullmatch('[01]+', prefix):
            problem(number, 'starts with %s but must start with a prefix of'
                    ' 0s and 1s, like 0010' % _describe(prefix))
            continue
        if prefix in seen_prefix:
            problem(number, 'repeats the prefix %s of line %s: each community'
                    ' has one line' % (prefix, seen_prefix[prefix]))
        seen_prefix.setdefault(prefix, number)
        if not locations:
            problem(number, 'names no location: add country codes (FR),'
                    ' continent codes (@EU) or *')
        for location in locations:
            if not (location == '*' or re.fullmatch('[A-Z]{2}', location)
                    or location[:1] == '@' and location[1:] in CONTINENTS):
                problem(number, 'names the location %s but a location must'
                        ' be a country code in upper case (FR), @ and a'
                        ' continent code (%s) or *'
                        % (_describe(location),
                           ', '.join('@' + c for c in CONTINENTS)))
            elif location != '*' and location in seen_location and \
                    seen_location[location] != number:
                problem(number, 'names %s, already named on line %s: a'
                        ' location belongs to one community'
                        % (location, seen_location[location]))
            else:
                seen_location.setdefault(location, number)
    prefixes = sorted(seen_prefix)
    for shorter, longer in zip(prefixes, prefixes[1:]):
        if longer.startswith(shorter):
            problem(seen_prefix[longer], 'has the prefix %s, inside the'
                    ' prefix %s of line %s: communities must not overlap'
                    % (longer, shorter, seen_prefix[shorter]))
    defaults_ = sum('*' in locations for _, _, locations in entries)
    if defaults_ != 1:
        found.append("'community' names the default location * on %s lines"
                     " but exactly one line must have it (it takes the nodes"
                     " no other line takes)." % defaults_)
    return found


def _mailhost_problems(values):
    found = []
    mailhost = values['mailhost']
    smtp = {name: values[name] for name in
            ('smtp-user', 'smtp-password', 'smtp-starttls') if values[name]}
    if mailhost.startswith('/'):
        if os.path.normpath(mailhost) != mailhost:
            found.append("'mailhost' is %s but a mailbox file must be given"
                         " by its normalised absolute path, like %s."
                         % (_describe(mailhost),
                            _describe(os.path.normpath(mailhost))))
        elif os.path.isdir(mailhost):
            found.append("'mailhost' is %s, a directory, but must be a"
                         " mailbox file (or an SMTP HOST[:PORT])."
                         % _describe(mailhost))
        what = 'a mailbox file'
    elif mailhost:
        host, _, port = mailhost.rpartition(':')
        try:
            ipaddress.IPv6Address(mailhost)
        except ValueError:
            if not host:
                host, port = port, ''
            if not HOSTNAME.match(host) or port and not (
                    port.isdigit() and 1 <= int(port) <= 65535):
                found.append(
                    "'mailhost' is %s but must be empty, an SMTP HOST or"
                    " HOST:PORT (PORT from 1 to 65535; an IPv6 address"
                    " without brackets nor port) or the absolute path of a"
                    " mailbox file." % _describe(mailhost))
        what = None
    else:
        what = 'empty'
    if what:
        for name, value in smtp.items():
            found.append(
                "%r is %s but 'mailhost' is %s: %s is only used with an SMTP"
                " mailhost; set 'mailhost' to an SMTP HOST[:PORT] or leave"
                " %s unset." % (name, HIDDEN if name == 'smtp-password'
                                else _describe(value),
                                what, name, name))
    elif bool(values['smtp-user']) != bool(values['smtp-password']):
        found.append(
            "'smtp-user' is %s and 'smtp-password' is %s: the registry logs"
            " in to the SMTP mailhost only with both; set both or neither."
            % (_describe(values['smtp-user']),
               'set' if values['smtp-password'] else 'empty'))
    return found


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


def _host_bits_advice(text, version, written=str, room=None):
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


def ipv4_network(value):
    """(IPv4Network, PLEN) of an ipv4-net value; ValueError with a sentence
    if it is not one."""
    text, _, plen = value.partition(' ')
    advice = _host_bits_advice(
        text, 4, lambda network: '"%s %s"' % (network, plen),
        int(plen) if INTEGER_TEXT.fullmatch(plen) else 0)
    if advice:
        raise ValueError("'ipv4-net' is %s but %s." % (_describe(value),
                                                       advice))
    try:
        network, plen = value.split(' ')
        network = ipaddress.IPv4Network(network)
        plen = int(plen)
    except ValueError as e:
        raise ValueError(
            "'ipv4-net' is %s but must be \"IP/N PLEN\", IP/N an IPv4 network"
            " with no host bits set, like \"10.42.0.0/16 24\" (%s)."
            % (_describe(value), e))
    if not network.prefixlen < plen <= 32:
        raise ValueError(
            "'ipv4-net' is %s but the length given to each node (%s) must be"
            " longer than the network's (%s) and at most 32."
            % (_describe(value), plen, network.prefixlen))
    return network, plen


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
                         " characters." % (name, _shown(
                             name, value, prop.get('writeOnly'))))
        elif value != value.strip() and not prop.get('writeOnly'):
            found.append("%r is %s but must not start or end with spaces."
                         % (name, _describe(value)))
    return found


def option_value_problems(values):
    """re6st-registry reads its configuration file as command line
    arguments: a value starting with - would be taken for an option, one
    starting with @ for a file to include."""
    return ["%r is %s but must not start with %s: re6st-registry's"
            " configuration would read it as %s." % (
                name, _shown(name, values[name], name in SECRET_OPTIONS),
                values[name][0], 'an option' if values[name][0] == '-'
                else 'a file to include')
            for name in OPTION_VALUES
            if isinstance(values.get(name), str)
            and values[name][:1] in ('-', '@')]


def check_request(parameters, schema):
    """(`parameters` typed (typed()), what they break of `schema` and of
    the one-line rule)."""
    parameters = typed(parameters, schema)
    return parameters, (
        schema_problems(parameters, schema)
        or line_problems(dict(defaults(schema), **parameters), schema))


def checked(parameters, schema, registry_port):
    """(values, problems): the defaults overridden by the typed
    `parameters`, and all that is wrong with them, as sentences (empty:
    valid)."""
    parameters, found = check_request(parameters, schema)
    values = dict(defaults(schema), **parameters)
    if found:
        return values, found
    found += option_value_problems(values)
    prefix = values['ipv6-prefix']
    room = None
    try:
        network = ipaddress.IPv6Network(prefix)
    except ValueError as e:
        advice = _host_bits_advice(prefix, 6) or (
            'must be an IPv6 network with no host bits set, like'
            ' 2001:db8:42::/48 (%s)' % e)
        found.append("'ipv6-prefix' is %s but %s." % (_describe(prefix),
                                                      advice))
    else:
        room = 128 - network.prefixlen
    community = values['community']
    community_bits = 0
    if community:
        community_found = community_problems(community)
        found += community_found
        if not community_found:
            community_bits = max(len(prefix) for _, prefix, _
                                 in community_entries(community))
    if room is not None:
        for name in 'prefix-length', 'anonymous-prefix-length':
            length = values[name]
            if length + community_bits > room:
                if community_bits:
                    found.append(
                        "%r is %s but %s leaves room for %s bits, %s of"
                        " which the longest community prefix takes: use a"
                        " %s of at most %s, shorter community prefixes or a"
                        " shorter ipv6-prefix."
                        % (name, length, network, room, community_bits, name,
                           room - community_bits))
                else:
                    found.append(
                        "%r is %s but %s leaves room for %s bits:"
                        " use a %s of at most %s or a shorter ipv6-prefix."
                        % (name, length, network, room, name, room))
    if values['forward-port'] == registry_port:
        found.append("'forward-port' is %s, the registry's internal port:"
                     " choose another port." % registry_port)
    found += _mailhost_problems(values)
    if values['ipv4-net']:
        try:
            ipv4_network(values['ipv4-net'])
        except ValueError as e:
            found.append(str(e))
    max_clients = values['max-clients']
    if max_clients is not None and max_clients < values['client-count']:
        found.append("'max-clients' is %s but must be at least client-count"
                     " (%s), or null for twice client-count."
                     % (max_clients, values['client-count']))
    oldest, newest = protocol_range()
    if not oldest <= values['min-protocol'] <= newest:
        found.append("'min-protocol' is %s but the release's re6stnet speaks"
                     " protocols %s to %s: choose one of them."
                     % (values['min-protocol'], oldest, newest))
    mmdb = values['geoip2-mmdb']
    if mmdb:
        if not os.path.isabs(mmdb):
            found.append("'geoip2-mmdb' is %s but must be an absolute path."
                         % _describe(mmdb))
        elif not os.path.isfile(mmdb):
            found.append("'geoip2-mmdb' is %s but there is no such file on"
                         " this host: install a GeoIP2 or GeoLite2 Country"
                         " database there, or leave it empty."
                         % _describe(mmdb))
        else:
            problem = geoip2_problem(mmdb)
            if problem:
                found.append("'geoip2-mmdb' is %s but %s."
                             % (_describe(mmdb), problem))
    else:
        if values['same-country']:
            found.append("'same-country' is %s but the registry can only"
                         " tell the country of nodes with a GeoIP2 database:"
                         " set 'geoip2-mmdb' too, or leave same-country"
                         " empty." % _describe(values['same-country']))
        located = sorted({location for _, _, locations
                          in community_entries(community)
                          for location in locations if location != '*'})
        if located:
            found.append("'community' names the locations %s but the"
                         " registry can only locate nodes with a GeoIP2"
                         " database: set 'geoip2-mmdb' too, or keep only the"
                         " default line (*)." % ', '.join(located))
    run = values['host-node-run']
    if os.path.normpath(run) != run:
        found.append("'host-node-run' is %s but must be a normalised"
                     ' absolute path, like %s.'
                     % (_describe(run), _describe(os.path.normpath(run))))
    found += _repository_problems(values['backup-repository'])
    return values, found


def problems(parameters, schema, registry_port):
    """All that is wrong with `parameters`, as sentences (empty: valid)."""
    return checked(parameters, schema, registry_port)[1]


def _repository_problems(url):
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


def resolve(parameters, schema, registry_port):
    """The full set of values (defaults filled in, strings typed), or
    ValueError listing every problem."""
    values, found = checked(parameters, schema, registry_port)
    if found:
        raise ValueError('\n'.join(found))
    values['ipv6-prefix'] = str(ipaddress.IPv6Network(values['ipv6-prefix']))
    return values


def option_text(value, prop):
    """A value as a buildout option: strings as they are (multi-line ones,
    "textarea" in the schema, as a JSON string: buildout cannot store line
    breaks), integers in decimal (3600.0 too), booleans as true/false,
    null as an empty string, arrays as their items separated by spaces."""
    if prop.get('textarea'):
        return json.dumps(value)
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float) and value.is_integer():
        # JSON Schema's integers include 3600.0: written as 3600
        return str(int(value))
    if isinstance(value, list):
        return ' '.join(map(str, value))
    return str(value)
