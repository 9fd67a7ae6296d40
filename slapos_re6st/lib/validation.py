"""The request validated against instance-input-schema.json: typed
(lib.strings), against the schema (lib.schema, sentences from
lib.sentences), then the registry's own rules (lib.registry_rules).

Every default is stated once, in the schema; every problem becomes one
sentence naming the parameter, its value and what is allowed.  Nothing is
created before the whole request is known to be valid.  Secret parameters
("writeOnly": true in the schema) are validated like the others but their
value is never shown in a sentence (see slap.hide_secrets).
"""
import ipaddress

from . import registry_rules
from .schema import defaults, secret_parameters
from .sentences import schema_problems
from .strings import typed


def check_request(parameters, schema):
    """(`parameters` typed (lib.strings.typed), what they break of
    `schema` and of the one-line rule)."""
    parameters = typed(parameters, schema)
    return parameters, (
        schema_problems(parameters, schema)
        or registry_rules.line_problems(dict(defaults(schema), **parameters),
                                        schema))


def checked(parameters, schema, registry_port):
    """(values, problems): the defaults overridden by the typed
    `parameters`, and all that is wrong with them, as sentences (empty:
    valid)."""
    parameters, found = check_request(parameters, schema)
    values = dict(defaults(schema), **parameters)
    if found:
        return values, found
    return values, registry_rules.problems(values, registry_port,
                                           secret_parameters(schema))


def problems(parameters, schema, registry_port):
    """All that is wrong with `parameters`, as sentences (empty: valid)."""
    return checked(parameters, schema, registry_port)[1]


def resolve(parameters, schema, registry_port):
    """The full set of values (defaults filled in, strings typed), or
    ValueError listing every problem."""
    values, found = checked(parameters, schema, registry_port)
    if found:
        raise ValueError('\n'.join(found))
    values['ipv6-prefix'] = str(ipaddress.IPv6Network(values['ipv6-prefix']))
    return values
