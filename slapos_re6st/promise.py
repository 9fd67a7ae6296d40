"""The partition's promises, written as slapos promise plugins
(etc/plugin/*.py), each calling one function of this package:

- Recipe: the registry answers getCa with this partition's CA, itself and
  through each forward (not merely some registry listening at that
  address; registry_answers); one plugin for all: slapos node runs each
  plugin in a process of its own, polled every 50 ms;
- Backup: the backups are recent and the last one did not fail
  (slapos_re6st.backup.backup_health);
- CaLifetime: the CA certificate does not end within warn-days days
  (slapos_re6st.renew.ca_lifetime).

slapos node imports slapos.core from the paths the plugin's first
statement assigns to sys.path[0:0]: those of the release's own slapos.core
egg and its dependencies, plus cryptography and this package (check_path).
"""
import functools
import os
import sys
import urllib.request

import zc.buildout
import zc.buildout.easy_install

from .registry import write_if_changed

CHECK_PLUGIN = '''\
# Written by slapos_re6st:%(recipe)s; do not edit.
import sys
sys.path[0:0] = %(path)r

from zope.interface import implementer
from slapos.grid.promise import interface
from slapos.grid.promise.generic import GenericPromise

from %(module)s import %(function)s

ARGUMENTS = %(arguments)r


@implementer(interface.IPromise)
class RunPromise(GenericPromise):

    def __init__(self, config):
        super(RunPromise, self).__init__(config)
        self.setPeriodicity(minute=1)

    def sense(self):
        try:
            ok, message = %(function)s(*ARGUMENTS)
        except Exception as e:
            ok, message = False, 'The check could not run: %%r' %% e
        if ok:
            self.logger.info('%%s', message)
        else:
            self.logger.error('%%s', message)

    def test(self):
        return self._test(result_count=1, failure_amount=1)

    def anomaly(self):
        return self._anomaly(result_count=1, failure_amount=1)
'''


def registry_answers(urls, ca_path):
    """(True, ...) when the registry answers getCa with the CA certificate
    in `ca_path` at each of `urls` (whitespace-separated: itself and its
    forwards); (False, what is wrong at each that does not) otherwise."""
    with open(ca_path, 'rb') as f:
        expected = b''.join(f.read().split())
    wrong = []
    urls = urls.split()
    for url in urls:
        try:
            with urllib.request.urlopen(url + 'getCa', timeout=10) as r:
                body = r.read()
        except Exception as e:
            wrong.append('%sgetCa failed: %s.' % (url, e))
            continue
        if b''.join(body.split()) != expected:
            wrong.append('%sgetCa answers another CA than %s: is another'
                         ' registry using this address?' % (url, ca_path))
    if wrong:
        return False, ' '.join(wrong)
    return True, 'getCa answers the CA of this partition at %s' % (
        ', '.join(urls))


def slapos_core_path(buildout_options, requirements=('slapos.core',)):
    """Locations of the release's slapos.core (and other `requirements`)
    and of their dependencies."""
    return list(_locations(buildout_options['develop-eggs-directory'],
                           buildout_options['eggs-directory'],
                           tuple(requirements)))


@functools.lru_cache(maxsize=None)
def _locations(develop_eggs, eggs, requirements):
    # computed once per buildout run: every promise recipe asks the same
    working_set = zc.buildout.easy_install.working_set(
        list(requirements), sys.executable, [develop_eggs, eggs])
    locations = []
    for dist in working_set:
        if dist.location not in locations:
            locations.append(dist.location)
    return tuple(locations)


def check_path(buildout_options):
    """What a plugin that calls this package needs: slapos.core,
    cryptography, and this package's own location (the release's)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    locations = slapos_core_path(buildout_options,
                                 ('slapos.core', 'cryptography'))
    return locations + [here] if here not in locations else locations


def check_plugin(recipe, function, arguments, path):
    """The text of a plugin that passes when `function` (module.name of
    this package) returns (True, message) for `arguments`."""
    module, _, name = function.rpartition('.')
    return CHECK_PLUGIN % {'recipe': recipe, 'path': path, 'module': module,
                           'function': name, 'arguments': tuple(arguments)}


class _Check:
    """A plugin calling FUNCTION with the values of ARGUMENTS (options)."""

    NAME = FUNCTION = None
    ARGUMENTS = ()
    NUMBERS = ()

    def __init__(self, buildout, name, options):
        for option in self.ARGUMENTS + ('output',):
            if not options.get(option):
                raise zc.buildout.UserError(
                    '[%s] needs the option %r.' % (name, option))
        self.arguments = []
        for option in self.ARGUMENTS:
            value = options[option]
            if option in self.NUMBERS:
                try:
                    value = int(value)
                except ValueError:
                    raise zc.buildout.UserError(
                        '[%s] %s must be a whole number, not %r.'
                        % (name, option, value))
            self.arguments.append(value)
        self.options = options
        self.path = check_path(buildout['buildout'])

    def install(self):
        write_if_changed(self.options['output'], check_plugin(
            self.NAME, self.FUNCTION, self.arguments, self.path))
        return [self.options['output']]

    def update(self):
        self.install()


class Backup(_Check):
    """Options: config (re6st-backup's configuration), output."""
    NAME = 'backup-promise'
    FUNCTION = 'slapos_re6st.backup.health'
    ARGUMENTS = ('config',)


class CaLifetime(_Check):
    """Options: cert, key (the CA's), renew-command, warn-days, output."""
    NAME = 'ca-lifetime-promise'
    FUNCTION = 'slapos_re6st.renew.ca_lifetime'
    ARGUMENTS = ('cert', 'key', 'renew-command', 'warn-days')
    NUMBERS = ('warn-days',)


class Recipe(_Check):
    """Options: urls (of the registry and its forwards, each ending with
    /), ca (path of the CA certificate they must serve), output."""
    NAME = 'promise'
    FUNCTION = 'slapos_re6st.promise.registry_answers'
    ARGUMENTS = ('urls', 'ca')

    def __init__(self, buildout, name, options):
        urls = options.get('urls', '').split()
        wrong = [url for url in urls if not url.endswith('/')]
        if wrong:
            raise zc.buildout.UserError(
                '[%s] each of urls must end with "/": %s.'
                % (name, ', '.join(map(repr, wrong))))
        options['urls'] = ' '.join(urls)
        super().__init__(buildout, name, options)
