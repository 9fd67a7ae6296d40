"""Validate the request against instance-input-schema.json (lib.validation)
and set one option per parameter, defaults filled in.  Parameters of
SlapOS's re6stnet release that this release names or writes otherwise are
taken with a warning first (lib.adoption.legacy_parameters)."""
import json
import logging

import zc.buildout

from ..lib import adoption, slap, strings, validation
from ..lib.schema import load_schema, secret_parameters
from . import NoInstall, require

log = logging.getLogger(__name__)


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
            # a request made for SlapOS's re6stnet release: kept working
            parameters, warnings = adoption.legacy_parameters(parameters)
            for warning in warnings:
                log.warning(warning)
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
