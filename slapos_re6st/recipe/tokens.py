"""The inputs of the token manager service (slapos_re6st.tokens): its
configuration, and the shared instances as this run sees them.  The
service does the rest, retrying."""
import json
import os

from ..lib import files
from . import require


class Recipe:
    """Writes the service's configuration (config-file) and the shared
    instances of the last instance run (requests-file, never handed to
    buildout: a missing file would read as "every token dropped").

    Options: config-file, requests-file, state-file, shared-instances (JSON,
    from slap-configuration), schema, registry-url, admin-secret (the
    file the private RPCs need, lib.admin), re6stry-url,
    ca-fingerprint, master-url, computer, partition, key, cert."""

    CONFIG = ('requests-file', 'state-file', 'schema', 'registry-url',
              'admin-secret', 're6stry-url', 'ca-fingerprint', 'master-url', 'computer',
              'partition', 'key', 'cert')
    REQUIRED = ('config-file', 'requests-file', 'state-file', 'schema',
                'registry-url', 'admin-secret', 're6stry-url', 'ca-fingerprint', 'master-url',
                'computer', 'partition', 'shared-instances')

    def __init__(self, buildout, name, options):
        require(name, options, *self.REQUIRED)
        self.options = options

    def install(self):
        config = {k: self.options.get(k, '') for k in self.CONFIG}
        files.write_if_changed(
            self.options['config-file'],
            json.dumps(config, indent=2, sort_keys=True) + '\n')
        os.makedirs(os.path.dirname(self.options['requests-file']),
                    mode=0o700, exist_ok=True)
        files.write_if_changed(self.options['requests-file'],
                               self.options['shared-instances'] + '\n')
        return [self.options['config-file']]

    update = install
