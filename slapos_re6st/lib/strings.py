"""Parameters as strings: what a string sent for a parameter stands for
among the types the schema declares for it (typed), and a value as the text
of a buildout option (option_text).

`slapos request --parameters NAME=VALUE`, and any request in plain XML,
sends nothing but strings: before validation, a string given for a
property whose declared type does not admit strings becomes the value it
stands for, and the rest of the code only ever sees that value.
"""
import json
import re

from .schema import properties, property_types

# An integer as a string: JSON's syntax of one (decimal digits, no leading
# zero, no + nor spaces).
INTEGER_TEXT = re.compile('-?(0|[1-9][0-9]*)')
# The strings that stand for a boolean (in any case) and for null.
BOOLEAN_TEXT = {'true': True, 'false': False}
NULL_TEXT = ('null', '')


def _as_integer(text):
    if INTEGER_TEXT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            pass
    return None


def _as_array(text):
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def from_text(text, types):
    """What the string `text` stands for among `types` (JSON Schema type
    names); `text` itself when it stands for none of them, which the
    validation then refuses for its type."""
    if 'string' in types:
        return text
    if 'null' in types and text in NULL_TEXT:
        return None
    if 'integer' in types and _as_integer(text) is not None:
        return _as_integer(text)
    if 'boolean' in types and text.lower() in BOOLEAN_TEXT:
        return BOOLEAN_TEXT[text.lower()]
    if 'array' in types and _as_array(text) is not None:
        return _as_array(text)
    return text


def typed(parameters, schema):
    """`parameters` with each string given for a property whose declared
    type admits no string replaced by the value it stands for: an integer
    in decimal digits ("16"), a boolean as "true" or "false" (in any case;
    not 1, 0, yes nor no), an array as its JSON text ('["FR", "DE"]'), and,
    where the type admits null, "null" or the empty string for null.  Any
    other string is left as it is, for the validation to refuse."""
    known = properties(schema)
    return {name: from_text(value, property_types(known[name]))
            if isinstance(value, str) and name in known else value
            for name, value in parameters.items()}


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
