"""Validate the request against instance-input-schema.json (lib.validation)
and set one option per parameter, defaults filled in."""
import json

import zc.buildout

from ..lib import slap, strings, validation
from ..lib.schema import load_schema, secret_parameters
from . import NoInstall, require


class Recipe(NoInstall):
    """Options: parameters (one JSON object, secrets replaced by
    lib.slap.SECRET_MARKER), secrets-file (where slap-configuration put
    them), schema (path), registry-port.  Sets one option per schema
    property, as text (see lib.strings.option_text); a secret one is
    set to SECRET_MARKER when it has a value, never to the value."""

    def __init__(self, buildout, name, options):
        require(name, options, 'parameters', 'secrets-file', 'schema',
                'registry-port')
        schema = load_schema(options['schema'])
        try:
            # the secrets themselves, for validation
            parameters = slap.reveal(json.loads(options['parameters']),
                                     options['secrets-file'],
                                     secret_parameters(schema))
            values = validation.resolve(parameters, schema,
                                        int(options['registry-port']))
        except ValueError as e:
            raise zc.buildout.UserError(
                'Invalid instance parameters, nothing was changed:\n%s' % e)
        for key, value in values.items():
            prop = schema['properties'][key]
            if prop.get('writeOnly'):
                value = slap.SECRET_MARKER if value else ''
            options[key] = strings.option_text(value, prop)
