"""Validate the request against instance-input-schema.json.

Every default is stated once, in the schema; every problem becomes one
sentence naming the parameter, its value and what is allowed.  Nothing is
created before the whole request is known to be valid.
"""
import ipaddress
import json

import jsonschema
import zc.buildout


def load_schema(path):
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _describe(value):
    return json.dumps(value)


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
    value = _describe(error.instance)
    if error.validator == 'type':
        allowed = 'a JSON %s' % prop.get('type')
    elif error.validator == 'enum':
        allowed = 'one of %s' % ', '.join(map(_describe, error.validator_value))
    elif error.validator in ('minimum', 'maximum'):
        allowed = 'an integer from %s to %s' % (
            prop.get('minimum', '-inf'), prop.get('maximum', 'inf'))
    else:
        allowed = prop.get('title', 'a valid value').lower()
        if error.validator == 'anyOf' and prop.get('format'):
            allowed = 'empty or %s' % allowed
    return ('%r is %s but must be %s (%s)'
            % (name, value, allowed, prop.get('description', '').rstrip('.')
               ) + '.')


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


def problems(parameters, schema, registry_port):
    """All that is wrong with `parameters`, as sentences (empty: valid)."""
    found = schema_problems(parameters, schema)
    if found:
        return found
    values = dict(defaults(schema), **parameters)
    prefix = values['ipv6-prefix']
    try:
        network = ipaddress.IPv6Network(prefix)
    except ValueError as e:
        found.append("'ipv6-prefix' is %s but must be an IPv6 network with no"
                     " host bits set, like 2001:db8:42::/48 (%s)."
                     % (_describe(prefix), e))
    else:
        room = 128 - network.prefixlen
        if values['prefix-length'] > room:
            found.append(
                "'prefix-length' is %s but %s leaves room for %s bits:"
                " use a prefix-length of at most %s or a shorter ipv6-prefix."
                % (values['prefix-length'], network, room, room))
    if values['forward-port'] == registry_port:
        found.append("'forward-port' is %s, the registry's internal port:"
                     " choose another port." % registry_port)
    return found


def resolve(parameters, schema, registry_port):
    """The full set of values (defaults filled in), or ValueError listing
    every problem."""
    found = problems(parameters, schema, registry_port)
    if found:
        raise ValueError('\n'.join(found))
    values = dict(defaults(schema), **parameters)
    values['ipv6-prefix'] = str(ipaddress.IPv6Network(values['ipv6-prefix']))
    return values


class Recipe:
    """Options: parameters (one JSON object), schema (path), registry-port.
    Sets one option per schema property, as text."""

    def __init__(self, buildout, name, options):
        for option in 'parameters', 'schema', 'registry-port':
            if option not in options:
                raise zc.buildout.UserError(
                    '[%s] needs the option %r.' % (name, option))
        schema = load_schema(options['schema'])
        try:
            values = resolve(json.loads(options['parameters']), schema,
                             int(options['registry-port']))
        except ValueError as e:
            raise zc.buildout.UserError(
                'Invalid instance parameters, nothing was changed:\n%s' % e)
        for key, value in values.items():
            options[key] = str(value)

    def install(self):
        return []

    update = install
