"""The configuration of re6st-backup (slapos_re6st.backup), the note of the
first deployment, and the partition's ssh key for backup-repository.  The
backups themselves are never handed to buildout."""
import json
import shutil
import socket

from ..backup.directory import record_deployment
from ..backup.repository import planned_ssh_key
from ..lib import files
from . import positive_integers, require, secret


class Recipe:
    """Writes the configuration of re6st-backup (config-file, JSON) and
    notes the first deployment (<directory>/deployed).

    Options: config-file, directory, registry-db, tokens-db, ca-key,
    ca-cert, dh, ipv6-prefix, key-size, period, keep, command (the
    partition's bin/re6st-backup, named in sentences), registry-log,
    registry-pidfile, tokens-pidfile, log-stamp, log-keep, log-max-size,
    log-max-age.

    The copy in backup-repository: repository (the parameter as the
    parameters recipe sets it: lib.slap.SECRET_MARKER or empty; the URL
    itself is read from secrets-file and goes into repository-file, mode
    0600, never into an option), repository-dir (the partition's git
    repository), ssh-key (the partition's ssh key, created once; sets
    ssh-public-key), known-hosts.  Optional: host-node-key,
    host-node-cert (the registry's own node's, backed up too)."""

    PATHS = ('directory', 'registry-db', 'tokens-db', 'ca-key', 'ca-cert',
             'dh', 'ipv6-prefix', 'command', 'registry-log',
             'registry-pidfile', 'tokens-pidfile', 'log-stamp')
    NUMBERS = ('key-size', 'period', 'keep', 'log-keep', 'log-max-size',
               'log-max-age')

    def __init__(self, buildout, name, options):
        require(name, options, 'config-file', *self.PATHS + self.NUMBERS)
        config = {k: options[k] for k in self.PATHS}
        config.update(positive_integers(name, options, *self.NUMBERS))
        self.url = ''
        if options.get('repository'):
            require(name, options, 'repository-file', 'repository-dir')
            self.url = secret(name, options, 'backup-repository')
        for key in ('repository-file', 'repository-dir', 'ssh-key',
                    'known-hosts', 'host-node-key', 'host-node-cert'):
            if options.get(key):
                config[key] = options[key]
        config['git'] = shutil.which('git') or ''
        self.pending = files.Pending()
        if options.get('ssh-key'):
            options['ssh-public-key'] = planned_ssh_key(
                options['ssh-key'], 're6st-backup@%s' % socket.gethostname(),
                self.pending)
        self.options = options
        self.text = json.dumps(config, indent=2, sort_keys=True) + '\n'

    def install(self):
        self.pending.write_all()
        record_deployment(self.options['directory'])
        files.write_if_changed(self.options['config-file'], self.text)
        installed = [self.options['config-file']]
        if self.options.get('repository-file'):
            # the URL may hold a password: the partition's user only
            files.write_if_changed(self.options['repository-file'],
                                   self.url + '\n' if self.url else '', 0o600)
            installed.append(self.options['repository-file'])
        return installed

    update = install
