"""A promise that passes only when the registry answers getCa with this
partition's CA (not merely some registry listening at that address).

It is written as a slapos promise plugin (etc/plugin/*.py).  slapos node
imports slapos.core from the paths the plugin's first statement assigns to
sys.path[0:0]: those of the release's own slapos.core egg and its
dependencies.
"""
import sys

import zc.buildout
import zc.buildout.easy_install

from .registry import write_if_changed

PLUGIN = '''\
# Written by slapos_re6st:promise; do not edit.
import sys
sys.path[0:0] = %(path)r

import urllib.request

from zope.interface import implementer
from slapos.grid.promise import interface
from slapos.grid.promise.generic import GenericPromise

URL = %(url)r
CA = %(ca)r


def _base64(pem):
    return b''.join(pem.split())


@implementer(interface.IPromise)
class RunPromise(GenericPromise):

    def __init__(self, config):
        super(RunPromise, self).__init__(config)
        self.setPeriodicity(minute=1)

    def sense(self):
        try:
            with urllib.request.urlopen(URL + 'getCa', timeout=10) as r:
                body = r.read()
        except Exception as e:
            self.logger.error('%%sgetCa failed: %%s', URL, e)
            return
        with open(CA, 'rb') as f:
            expected = f.read()
        if _base64(body) == _base64(expected):
            self.logger.info('%%sgetCa answers the CA of this partition', URL)
        else:
            self.logger.error('%%sgetCa answers another CA than %%s: is'
                              ' another registry using this address?', URL, CA)

    def test(self):
        return self._test(result_count=1, failure_amount=1)

    def anomaly(self):
        return self._anomaly(result_count=3, failure_amount=3)
'''


def slapos_core_path(buildout_options):
    """Locations of the release's slapos.core and of its dependencies."""
    path = [buildout_options['develop-eggs-directory'],
            buildout_options['eggs-directory']]
    working_set = zc.buildout.easy_install.working_set(
        ['slapos.core'], sys.executable, path)
    return [dist.location for dist in working_set]


class Recipe:
    """Options: url (of the registry, ending with /), ca (path of the CA
    certificate it must serve), output (plugin path)."""

    def __init__(self, buildout, name, options):
        for option in 'url', 'ca', 'output':
            if not options.get(option):
                raise zc.buildout.UserError(
                    '[%s] needs the option %r.' % (name, option))
        if not options['url'].endswith('/'):
            raise zc.buildout.UserError(
                '[%s] url must end with "/": %r.' % (name, options['url']))
        self.options = options
        self.path = slapos_core_path(buildout['buildout'])

    def install(self):
        write_if_changed(self.options['output'], PLUGIN % {
            'url': self.options['url'], 'ca': self.options['ca'],
            'path': self.path})
        return [self.options['output']]

    def update(self):
        self.install()
