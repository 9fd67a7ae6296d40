"""The request schemas (instance-input-schema.json and the token's): read,
checked as JSON Schema draft 2020-12, and what they say of each parameter
(its declared types, its default, whether it is a secret)."""
import json

import jsonschema


def load_schema(path):
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def properties(schema):
    return schema.get('properties', {})


def property_types(prop):
    """The JSON Schema type names a property declares, as a list."""
    types = prop.get('type', [])
    return types if isinstance(types, list) else [types]


def defaults(schema):
    return {name: prop['default'] for name, prop in properties(schema).items()
            if 'default' in prop}


def is_secret(schema, name):
    """Whether the parameter `name` is a secret: "writeOnly" in the
    schema, the one place that says so."""
    return bool(properties(schema).get(name, {}).get('writeOnly'))


def secret_parameters(schema):
    """The names of the schema's secret parameters, in order."""
    return tuple(name for name in properties(schema)
                 if is_secret(schema, name))


def errors(parameters, schema):
    """The jsonschema errors of `parameters`, ordered by the path of the
    value each is about."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return sorted(validator.iter_errors(parameters),
                  key=lambda e: list(e.path))
