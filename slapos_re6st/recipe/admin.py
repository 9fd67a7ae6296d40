"""The partition's admin secret (lib.admin): made once, 0600, by the
partition's user, in install (never in an option value: it would land in
.installed.cfg), and never returned from install (buildout would delete
it with the part, and every tool holding it would be refused)."""
from ..lib import admin
from . import require


class Recipe:
    """Options: file (the secret's path)."""

    def __init__(self, buildout, name, options):
        require(name, options, 'file')
        self.options = options

    def install(self):
        admin.make_secret(self.options['file'])
        return []

    update = install
