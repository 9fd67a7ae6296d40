"""The re6st-registry configuration file (lib.registry_config), with the
SMTP password, the only secret, in a file of mode 0600 that the
configuration includes, and the community file."""
import zc.buildout

from ..lib import files, registry_config
from . import require, secret

# Optional options of the recipe (see Recipe).
OPTIONAL = ('authorized-origin', 'anonymous-prefix-length',
            'mailhost', 'smtp-user', 'smtp-password', 'smtp-password-file',
            'secrets-file', 'smtp-starttls', 'ipv4-net', 'encrypt',
            'same-country', 'community', 'community-file',
            'geoip2-mmdb') + registry_config.NUMBERS


class Recipe:
    """Options: output, and port, ipv4, db, ca, key, dh, prefix-length,
    logfile, run, authorized-origin (space separated); optional:
    anonymous-prefix-length, mailhost, smtp-user,
    smtp-password (set: lib.slap.SECRET_MARKER, the password itself is in
    secrets-file) with smtp-password-file, smtp-starttls, ipv4-net
    ("IP/N PLEN"), client-count, max-clients, tunnel-refresh, hello,
    min-protocol, encrypt, same-country (space separated), community (a
    JSON string) with community-file, geoip2-mmdb, grace-period, verbose.
    Sets: forward-source (where the public forward connects from)."""

    def __init__(self, buildout, name, options):
        smtp = bool(options.get('smtp-password') and options.get('mailhost'))
        community = registry_config.community_text(options)
        require(name, options, 'output', *[
            key for _, key in registry_config.OPTIONS] + (
                ['smtp-password-file'] if smtp else []) + (
                ['community-file'] if community else []))
        self.options = options
        for key in OPTIONAL:  # all read (buildout warns of unread options)
            options.get(key)
        trusted = registry_config.ALWAYS_TRUSTED + tuple(
            options.get('authorized-origin', '').split())
        options['forward-source'] = registry_config.forward_source(trusted)
        self.password = self.secret_version = None
        if smtp:
            self.password = secret(name, options, 'smtp-password')
            self.secret_version = registry_config.secret_version(
                options['smtp-password-file'], self.password)
        self.community = community
        self.text = registry_config.render(options, self.secret_version)
        # what re6st-registry itself would refuse, refused now
        includes = {}
        if self.secret_version:
            includes[options['smtp-password-file']] = \
                registry_config.secret_file_text(self.password,
                                                 self.secret_version)
        try:
            registry_config.parse_text(self.text, includes)
        except registry_config.Refused as e:
            raise zc.buildout.UserError(
                'Invalid instance parameters, nothing was changed:'
                ' re6st-registry would refuse its configuration (%s):'
                ' change the parameter it names.' % e)

    def install(self):
        options = self.options
        written = []
        if self.secret_version:
            path = options['smtp-password-file']
            files.write_if_changed(path, registry_config.secret_file_text(
                self.password, self.secret_version), 0o600)
            written.append(path)
        if self.community:
            path = options['community-file']
            files.write_if_changed(path, self.community, 0o644)
            written.append(path)
        files.write_if_changed(options['output'], self.text, 0o600)
        return [options['output']] + written

    update = install
