"""The buildout recipes of the instance profile, one module per step, in
the order they happen (the entry point names are in setup.py):

  installed          .installed.cfg folded back (compact-installed)
  slapconfiguration  the partition, read from the master
  softwaretype       the parts of the requested type (software-type,
                     optional-parts)
  parameters         the request, validated against the schema
  adoption           a registry of SlapOS's re6stnet release taken over,
                     before ca (which takes its paths from it)
  ca                 the network's CA, key and DH
  admin              the admin secret for the private RPCs (admin-secret)
  registry           re6st-registry's configuration (registry-config)
  forward            the public forward's configuration (forward-config)
  host_node          the registry's own re6st node (host-node)
  tokens             the token manager's inputs (token-manager)
  backup             re6st-backup's configuration, the ssh key

Buildout-time only: nothing outside this package imports it.  Each recipe
checks its options in __init__ (a zc.buildout.UserError naming what is
missing or wrong; reading files is fine), computes in functions of
slapos_re6st.lib, and writes to the disk in install() and update() only
(buildout makes every recipe of a run, even one it will not install; what
__init__ must know of a file to come, such as the fingerprint of a CA
made in this run, it makes in memory: lib.files.Pending), which never
return persistent data (CA, databases, backups).  Two recipes write in
__init__, as they must act before the others are made: installed (it
folds .installed.cfg before this run's updates append to it) and
slapconfiguration (the request's secrets, in a 0600 file that the recipes
made after it read: secrets are never option values)."""
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
