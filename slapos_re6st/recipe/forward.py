"""The public forward's configuration (HAProxy, lib.forward)."""
from ..lib import files, forward
from . import require


class Recipe:
    """Options: output, listen (addresses, whitespace separated), port,
    registry ("IPv4:port"), source (the address it connects from)."""

    def __init__(self, buildout, name, options):
        require(name, options, 'output', 'listen', 'port', 'registry',
                'source')
        self.options = options
        self.text = forward.render(options['listen'].split(), options['port'],
                                   options['registry'], options['source'])

    def install(self):
        files.write_if_changed(self.options['output'], self.text, 0o644)
        return [self.options['output']]

    update = install
