"""The public forward's configuration (HAProxy, lib.forward), and the
`.slapos-port-redirect` file by which a SlapOS node with slapos.core's
port redirection (manager plugin `portredir`) exposes it on the host's
IPv4, as SlapOS's re6stnet release did."""
import json
import subprocess

import zc.buildout

from ..lib import files, forward
from . import require


class Recipe:
    """Options: output, listen (addresses, whitespace separated), port,
    registry ("IPv4:port"), source (the address it connects from);
    optional: extra-listen ("ADDRESS PORT" pairs, whitespace separated:
    more addresses at other ports, like an adopted registry's old URL),
    redirect-address (the partition's IPv4), port-redirect (the file that
    asks the node's slapos to redirect the host's IPv4 at `port`, and at
    each of redirect-ports, to the forward there, at a port of its own:
    lib.forward.redirect_target), redirect-ports, taken-ports (ports of
    the partition's IPv4 the forward must not take: the registry's),
    haproxy (the program: the configuration follows its version)."""

    def __init__(self, buildout, name, options):
        require(name, options, 'output', 'listen', 'port', 'registry',
                'source')
        self.options = options
        extra = options.get('extra-listen', '').split()
        if len(extra) % 2:
            raise zc.buildout.UserError(
                '[%s] extra-listen must be pairs of ADDRESS PORT, not %r.'
                % (name, options['extra-listen']))
        extra = list(zip(extra[::2], extra[1::2]))
        self.redirects = target = None
        if options.get('redirect-address'):
            target = forward.redirect_target(
                options['redirect-address'], options['port'],
                options.get('taken-ports', '').split()
                + [p for _, p in extra])
            ports = [options['port']]
            for port in options.get('redirect-ports', '').split():
                if port not in ports:
                    ports.append(port)
            self.redirects = forward.port_redirects(ports, target)
        binds = forward.binds(options['listen'].split(), options['port'],
                              extra, target)
        self.text = forward.render_binds(binds, options['registry'],
                                         options['source'],
                                         self.haproxy_version(name))

    def haproxy_version(self, name):
        """(major, minor) of the option haproxy's program; None without
        the option."""
        haproxy = self.options.get('haproxy')
        if not haproxy:
            return None
        try:
            output = subprocess.run(
                [haproxy, '-v'], capture_output=True, text=True,
                timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise zc.buildout.UserError(
                '[%s] cannot run haproxy %r (%s): install HAProxy or fix'
                ' the path.' % (name, haproxy, e))
        version = forward.haproxy_version(output)
        if version is None:
            raise zc.buildout.UserError(
                '[%s] %r -v printed no HAProxy version: is it HAProxy?'
                % (name, haproxy))
        return version

    def install(self):
        files.write_if_changed(self.options['output'], self.text, 0o644)
        installed = [self.options['output']]
        if self.options.get('port-redirect') and self.redirects:
            files.write_if_changed(self.options['port-redirect'],
                                   json.dumps(self.redirects) + '\n', 0o644)
            installed.append(self.options['port-redirect'])
        return installed

    update = install
