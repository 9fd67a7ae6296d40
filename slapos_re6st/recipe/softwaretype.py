"""Pick the parts to install for the requested software type."""
import zc.buildout

from . import NoInstall

# What SlapOS calls the type of an instance requested without one.
DEFAULT_NAMES = ('', 'default', 'RootSoftwareInstance')


def parts_for(software_type, parts_by_type):
    """The parts of `software_type`; UserError with a sentence if unknown."""
    name = 'default' if software_type in DEFAULT_NAMES else software_type
    try:
        return parts_by_type[name]
    except KeyError:
        raise zc.buildout.UserError(
            'Unknown software type %r: this release deploys %s; request one'
            ' of them (or none, for the default).'
            % (software_type, ', '.join(map(repr, sorted(parts_by_type)))))


class Recipe(NoInstall):
    """Options: software-type; one option per known type, named after it,
    listing its parts.  Sets: parts."""

    def __init__(self, buildout, name, options):
        types = {k: v for k, v in options.items()
                 if k not in ('recipe', 'software-type', 'parts')
                 and not k.startswith('_')}
        if not types:
            raise zc.buildout.UserError(
                '[%s] lists no software type.' % name)
        options['parts'] = parts_for(options.get('software-type', ''), types)


class Optional(NoInstall):
    """Parts (and values) used only when a value is set.
    Options: if (the value), parts, any other.  Sets: enabled-<option> for
    each other option: its value, or '' when `if` is empty."""

    def __init__(self, buildout, name, options):
        enabled = bool(options.get('if', '').strip())
        for key in list(options):
            if key not in ('recipe', 'if') and not key.startswith(
                    ('_', 'enabled-')):
                options['enabled-' + key] = options[key] if enabled else ''
