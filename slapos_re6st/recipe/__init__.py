"""The buildout recipes of the instance profile, one module per step (see
slapos_re6st/__init__.py).  Buildout-time only: nothing outside this
package imports it.  Each recipe checks its options in __init__ (a
zc.buildout.UserError naming what is missing or wrong), computes in
functions of slapos_re6st.lib, and touches the disk in install(), which
never returns persistent data (CA, databases, backups)."""
import zc.buildout


def require(name, options, *keys):
    """UserError naming the options of [name] among `keys` that are
    missing or empty."""
    missing = [key for key in keys if not options.get(key)]
    if missing:
        raise zc.buildout.UserError('[%s] needs the option%s %s.' % (
            name, 's' if len(missing) > 1 else '', ', '.join(missing)))


def positive_integers(name, options, *keys):
    """{key: int} of options that must be positive whole numbers."""
    values = {}
    for key in keys:
        try:
            values[key] = int(options[key])
        except ValueError:
            values[key] = 0
        if values[key] < 1:
            raise zc.buildout.UserError(
                '[%s] %s must be a positive whole number, not %r.'
                % (name, key, options[key]))
    return values


def secret(name, options, parameter):
    """The secret `parameter` of the request, from the file `secrets-file`
    of [name]; UserError if that file does not hold it."""
    from ..lib.slap import read_secrets
    require(name, options, 'secrets-file')
    value = read_secrets(options['secrets-file']).get(parameter)
    if value is None:
        raise zc.buildout.UserError(
            '[%s] %s is set but %s does not hold it: run the whole instance'
            ' profile.' % (name, parameter, options['secrets-file']))
    return value


class NoInstall:
    """A recipe that only sets options: nothing to install."""

    def install(self):
        return []

    update = install
