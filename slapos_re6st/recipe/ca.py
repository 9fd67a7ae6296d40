"""The network's CA (lib.ca.planned_ca): made in memory in __init__ when
there is none yet, so that its fingerprint is published in the same run,
written by install() (once: never replaced), and never returned from
install, so that buildout never deletes it."""
import os

import zc.buildout

from ..lib import ca, files
from . import require


class Recipe:
    """Options: key, cert, dh (paths), key-size, ipv6-prefix; optional:
    renew-command (how the refusal of another prefix names re6st-renew-ca),
    adopted-key, adopted-cert, adopted-dh (the CA of SlapOS's re6stnet
    release that [adoption] copies to key, cert and dh, checked there).
    Sets: fingerprint."""

    def __init__(self, buildout, name, options):
        require(name, options, 'key', 'cert', 'dh', 'key-size', 'ipv6-prefix')
        try:
            key_size = int(options['key-size'])
        except ValueError:
            raise zc.buildout.UserError(
                '[%s] key-size must be a number of bits, not %r.'
                % (name, options['key-size']))
        self.pending = files.Pending()
        if options.get('adopted-cert') and not os.path.exists(
                options['cert']):
            # adopted by [adoption] before this install: the same files
            cert = self.adopted(options)
            options['fingerprint'] = ca.fingerprint(cert)
            return
        try:
            cert = ca.planned_ca(
                options['key'], options['cert'], options['dh'], key_size,
                options['ipv6-prefix'],
                options.get('renew-command') or 're6st-renew-ca',
                self.pending)
        except ValueError as e:
            raise zc.buildout.UserError(str(e))
        options['fingerprint'] = ca.fingerprint(cert)

    def adopted(self, options):
        """The CA that [adoption] copies (its install runs first), planned
        here too, the same bytes: left alone once there."""
        for key in 'key', 'cert':
            self.pending.new(options[key], files.read(
                options['adopted-' + key], binary=True),
                0o600 if key == 'key' else 0o644)
        self.pending.new(options['dh'], files.read(
            options['adopted-dh'], binary=True) if options.get('adopted-dh')
            else ca.FFDHE2048_PEM)
        return ca.load_certificate(options['adopted-cert'])

    def install(self):
        self.pending.write_all()
        return []

    update = install
