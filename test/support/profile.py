"""The recipes of the instance profile wired as
instance-re6st-registry.cfg.in wires them, without buildout."""
import configparser
import json
import os
import re

from slapos_re6st.lib import registry_config, slap
from slapos_re6st.lib.schema import load_schema, secret_parameters
from slapos_re6st.recipe import parameters as parameters_recipe
from slapos_re6st.recipe import registry as registry_recipe

from . import SCHEMA_PATH, TOP
from harness.tempdir import TempDir

# the request's secrets, as the schema says them ("writeOnly")
SECRETS = secret_parameters(load_schema(SCHEMA_PATH))


def profile_section(name):
    """A section of instance-re6st-registry.cfg.in, as raw options."""
    parser = configparser.RawConfigParser(
        comment_prefixes=('#',), inline_comment_prefixes=None,
        interpolation=None, strict=False)
    parser.optionxform = str
    with open(os.path.join(TOP, 'instance-re6st-registry.cfg.in')) as f:
        parser.read_file(f)
    return {k: v.strip() for k, v in parser[name].items()}


def substitute(raw, sections):
    """Buildout's ${section:option}, from `sections`."""
    return re.sub(r'\$\{([^:}]+):([^}]+)\}',
                  lambda m: sections[m.group(1)][m.group(2)], raw)


def fake_buildout(directory):
    return {'buildout': {'directory': directory}}


class InstanceRecipes(TempDir):
    """[slap-configuration]'s output for a request, then the parameters
    and registry-config recipes, in this test's directory."""

    def secrets_file(self):
        return self.path('etc', 're6st-request-secrets.json')

    def slap_options(self, request):
        """What slap-configuration sets (and writes) for `request`."""
        os.makedirs(self.path('etc'), exist_ok=True)
        shown, secrets = slap.hide_secrets(request, SECRETS)
        slap.write_secrets(self.secrets_file(), secrets)
        return {'parameters': json.dumps(shown, sort_keys=True),
                'secrets-file': self.secrets_file()}

    def parameters_options(self, slap_options):
        """[parameters] of the profile, run."""
        options = {'parameters': slap_options['parameters'],
                   'secrets-file': slap_options['secrets-file'],
                   'schema': SCHEMA_PATH, 'registry-port': '9200'}
        parameters_recipe.Recipe(fake_buildout(self.dir), 'parameters',
                                 options)
        return options

    def run_recipes(self, request, ipv4='10.0.0.1', port='9200'):
        """Options of [slap-configuration], [parameters] and
        [registry-config] for `request` (the registry at `ipv4`:`port`);
        the registry-config recipe installed (self.installed: what it
        returned)."""
        slap_options = self.slap_options(request)
        params = self.parameters_options(slap_options)
        for name in 'etc', 'srv', 'log', 'run':
            os.makedirs(self.path(name), exist_ok=True)
        sections = {
            'slap-configuration': slap_options,
            'parameters': params,
            'registry': {'ipv4': ipv4, 'port': str(port)},
            'directory': {'etc': self.path('etc'), 'db': self.path('srv'),
                          'log': self.path('log'), 'run': self.path('run')},
            'ca': {'cert': self.path('ca.crt'), 'key': self.path('ca.key'),
                   'dh': self.path('dh.pem'), 'fingerprint': 'sha256:00ff'},
        }
        config = {k: substitute(v, sections) for k, v in
                  profile_section('registry-config').items()
                  if k != 'recipe'}
        recipe = registry_recipe.Recipe(fake_buildout(self.dir),
                                        'registry-config', config)
        self.installed = recipe.install()
        return slap_options, params, config

    def parsed(self, config):
        """The configuration as re6st-registry reads it."""
        return registry_config.parse(config['output'])
