"""The sentences of the request's validation: a value as a sentence shows
it (a secret not at all), what a valid value looks like, and one sentence
for each error of the schema, naming the parameter, its value and what is
allowed."""
import json

from . import remote
from .schema import errors, is_secret, property_types

HIDDEN = '(not shown)'
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


def describe(value):
    return json.dumps(value)


def shown(name, value, secret):
    """A value as a sentence shows it: a secret not at all, but the URL
    of backup-repository without its password."""
    if secret and name == 'backup-repository' and isinstance(value, str):
        return describe(remote.redact(value))
    return HIDDEN if secret else describe(value)


def _integer_example(prop):
    for value in prop.get('default'), prop.get('minimum'):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 1


def type_forms(name, prop):
    """What a value of `prop`'s declared type may be sent as: its JSON
    value, and the strings lib.strings.typed() reads."""
    types = property_types(prop)
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


def _unknown_or_whole(error, schema):
    """The sentence of an error about the parameters as a whole."""
    if error.validator == 'additionalProperties':
        known = sorted(schema.get('properties', ()))
        unknown = sorted(set(error.instance) - set(known))
        return ('Unknown parameter%s %s: the known parameters are %s.'
                % ('s' if len(unknown) > 1 else '',
                   ', '.join(map(repr, unknown)), ', '.join(known)))
    return 'The parameters %s.' % error.message


def _allowed(error, name, prop, item):
    """What the value `error` is about must be, as a sentence says it."""
    if item and name in ALLOWED_ITEM:
        return ALLOWED_ITEM[name]
    if error.validator == 'type':
        return type_forms(None if item else name, prop)
    if error.validator == 'enum':
        return 'one of %s' % ', '.join(map(describe, error.validator_value))
    if error.validator in ('minimum', 'maximum'):
        return 'an integer from %s to %s' % (
            prop.get('minimum', '-inf'), prop.get('maximum', 'inf'))
    allowed = ALLOWED.get(name) or prop.get('title', 'a valid value').lower()
    if error.validator == 'anyOf' and prop.get('format'):
        allowed = 'empty or %s' % allowed
    return allowed


def schema_problem(error, schema):
    """One sentence for one jsonschema error."""
    if not error.path:
        return _unknown_or_whole(error, schema)
    name = error.path[0]
    prop = schema['properties'].get(name, {})
    value = shown(name, error.instance, is_secret(schema, name))
    item = len(error.path) > 1  # an item of an array
    subject = '%r item %s' % (name, error.path[1]) if item else repr(name)
    allowed = _allowed(error, name, prop.get('items', {}) if item else prop,
                       item)
    description = prop.get('description', '')
    return ('%s is %s but must be %s (%s)'
            % (subject, value, allowed, description.rstrip('.')) + '.')


def schema_problems(parameters, schema):
    """What `parameters` break of `schema`, one sentence each."""
    return [schema_problem(e, schema) for e in errors(parameters, schema)]
