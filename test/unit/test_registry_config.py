"""re6st-registry's configuration (slapos_re6st.lib.registry_config and
the registry-config recipe): every parameter rendered and read back by
re6st-registry's own parser, files written only when changed."""
import json
import os
import socket
import stat
import subprocess

import zc.buildout

from slapos_re6st.lib import ca, registry_config
from slapos_re6st.lib.wait import wait_for
from slapos_re6st.recipe import registry as registry_recipe
from harness.mmdb import country_mmdb
from harness.parameters import NETWORK, PARSED, parsed_values
from support import SCHEMA_PATH
from support.profile import InstanceRecipes
from support.re6st import REGISTRY_SERVICE, free_port
from harness.tempdir import TempDir

# the parameters that are integers in re6st-registry's configuration
REGISTRY_INTEGERS = ('prefix-length', 'anonymous-prefix-length',
                     'client-count', 'max-clients', 'tunnel-refresh', 'hello',
                     'min-protocol', 'grace-period', 'verbose')
PASSWORD = 'pa ss"w\'ord#$1-%(x)s-${y}'


class TestRendering(InstanceRecipes):

    def mmdb(self):
        return country_mmdb(self.dir)

    def test_defaults(self):
        _, _, config = self.run_recipes({})
        parsed = self.parsed(config)
        self.assertIsNone(parsed.mailhost)
        self.assertIsNone(parsed.smtp_user)
        self.assertIsNone(parsed.smtp_pwd)
        self.assertFalse(parsed.smtp_starttls)
        self.assertIsNone(parsed.anonymous_prefix_length)
        self.assertIsNone(parsed.ipv4)
        self.assertIsNone(parsed.community)
        self.assertIsNone(parsed.same_country)
        self.assertFalse(parsed.encrypt)
        self.assertEqual(parsed.prefix_length, 16)
        self.assertEqual(parsed.client_count, 10)
        self.assertEqual(parsed.max_clients, 20)  # re6st: 2 * client-count
        self.assertEqual(parsed.tunnel_refresh, 300)
        self.assertEqual(parsed.hello, 15)
        self.assertEqual(parsed.min_protocol, 1)
        self.assertEqual(parsed.grace_period, 8640000)
        self.assertEqual(parsed.verbose, 1)
        self.assertEqual(parsed.bind4, '10.0.0.1')
        self.assertEqual(parsed.bind6, '')
        self.assertEqual(parsed.port, 9200)
        self.assertEqual(parsed.authorized_origin,
                         ['127.0.0.1', '::1', '10.0.0.1'])
        with open(config['output']) as f:
            text = f.read()
        self.assertNotIn('mailhost', text)
        self.assertNotIn('@', text)
        self.assertEqual(self.installed, [config['output']])
        self.assertFalse(os.path.exists(config['smtp-password-file']))
        self.assertFalse(os.path.exists(config['community-file']))

    def test_every_parameter(self):
        mmdb = self.mmdb()
        _, _, config = self.run_recipes({
            'prefix-length': 20, 'anonymous-prefix-length': 24,
            'mailhost': 'smtp.example.com:587', 'smtp-user': 'registry',
            'smtp-password': PASSWORD, 'smtp-starttls': True,
            'geoip2-mmdb': mmdb, 'community': '# c\n0 *\n10 FR DE\n',
            **NETWORK})
        parsed = self.parsed(config)
        self.assertEqual(parsed_values(parsed), PARSED)
        self.assertEqual(parsed.mailhost, 'smtp.example.com:587')
        self.assertEqual(parsed.smtp_user, 'registry')
        self.assertEqual(parsed.smtp_pwd, PASSWORD)
        self.assertTrue(parsed.smtp_starttls)
        self.assertEqual(parsed.community, config['community-file'])
        with open(parsed.community) as f:
            self.assertEqual(f.read(), '# c\n0 *\n10 FR DE\n')
        self.assertEqual(sorted(self.installed), sorted([
            config['output'], config['smtp-password-file'],
            config['community-file']]))
        for path, mode in ((config['output'], 0o600),
                           (config['smtp-password-file'], 0o600),
                           (config['community-file'], 0o644)):
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode, path)

    def test_parameters_sent_as_strings(self):
        """As `slapos request --parameters NAME=VALUE` sends them: the
        registry runs with the values they stand for."""
        as_text = {name: value if isinstance(value, str) else
                   json.dumps(value) for name, value in NETWORK.items()}
        _, params, config = self.run_recipes(dict(
            as_text, **{'geoip2-mmdb': self.mmdb()}))
        self.assertEqual(parsed_values(self.parsed(config)), PARSED)
        self.assertEqual((params['encrypt'], params['same-country']),
                         ('true', 'FR DE'))

    def test_mailbox_file(self):
        mbox = self.path('srv', 'tokens.mbox')
        _, _, config = self.run_recipes({'mailhost': mbox})
        self.assertEqual(self.parsed(config).mailhost, mbox)

    def test_one_line_per_country(self):
        _, _, config = self.run_recipes({'same-country': ['FR', 'DE', 'IT'],
                                         'geoip2-mmdb': self.mmdb()})
        with open(config['output']) as f:
            lines = [line for line in f.read().splitlines()
                     if line.startswith('same-country')]
        self.assertEqual(lines, ['same-country FR', 'same-country DE',
                                 'same-country IT'])

    def test_re6st_refuses_what_validation_refuses(self):
        """The checks re6st-registry itself makes at start, done earlier."""
        _, _, config = self.run_recipes({})
        with open(config['output'], 'a') as f:
            f.write('min-protocol 99\n')
        with self.assertRaises(registry_config.Refused) as e:
            self.parsed(config)
        self.assertIn('min-protocol', str(e.exception))

    def test_config_follows_every_input(self):
        """The configuration file (which re6st-service watches to restart
        the registry) changes whenever the configuration, the community or
        the password changes, and only then."""
        base = {'mailhost': 'smtp.example.com', 'smtp-user': 'u',
                'smtp-password': PASSWORD, 'community': '0 *'}
        texts = {}
        for label, request in (
                ('base', base),
                ('same', base),
                ('hello', dict(base, hello=16)),
                ('community', dict(base, community='1 *')),
                ('password', dict(base, **{'smtp-password': PASSWORD + '2'})),
                ('password again', dict(base, **{
                    'smtp-password': PASSWORD + '2'}))):
            _, _, config = self.run_recipes(request)
            with open(config['output']) as f:
                texts[label] = f.read()
        self.assertEqual(texts['base'], texts['same'])
        self.assertEqual(texts['password'], texts['password again'])
        self.assertEqual(len(set(texts.values())), 4, texts)
        self.assertNotIn(PASSWORD, ''.join(texts.values()))

    def test_no_stale_secret(self):
        """Without a password, the configuration includes no secret file
        (buildout removes the file: the options changed)."""
        _, _, config = self.run_recipes({
            'mailhost': 'smtp.example.com', 'smtp-user': 'u',
            'smtp-password': PASSWORD})
        self.assertIsNotNone(self.parsed(config).smtp_pwd)
        _, _, config = self.run_recipes({'mailhost': 'smtp.example.com'})
        with open(config['output']) as f:
            self.assertNotIn('@', f.read())
        self.assertEqual(self.installed, [config['output']])


class TestRegistryConfig(TempDir):

    def options(self, **kw):
        options = {k: self.path(k) for _, k in registry_config.OPTIONS}
        options.update({'port': '9200', 'ipv4': '10.0.0.1',
                        'prefix-length': '16'})
        options.update(output=self.path('registry.conf'), **kw)
        return options

    def test_forward_source_is_never_trusted(self):
        self.assertEqual(registry_config.forward_source(('127.0.0.1', '::1')),
                         '127.0.0.2')
        self.assertEqual(registry_config.forward_source(
            ('127.0.0.1', '::1', '127.0.0.2')), '127.0.0.3')
        options = self.options(**{'authorized-origin': '127.0.0.2'})
        registry_recipe.Recipe(None, 'r', options)
        self.assertNotIn(options['forward-source'],
                         registry_config.ALWAYS_TRUSTED + ('127.0.0.2',))

    def test_file_rewritten_only_when_changed(self):
        options = self.options()
        recipe = registry_recipe.Recipe(None, 'r', options)
        self.assertEqual(recipe.install(), [options['output']])
        mtime = os.stat(options['output']).st_mtime_ns
        recipe.update()
        self.assertEqual(os.stat(options['output']).st_mtime_ns, mtime)
        options['port'] = '9300'
        registry_recipe.Recipe(None, 'r', options).update()
        with open(options['output']) as f:
            self.assertIn('9300', f.read())

    def test_missing_option_is_named(self):
        options = self.options()
        del options['dh']
        with self.assertRaises(zc.buildout.UserError) as e:
            registry_recipe.Recipe(None, 'r', options)
        self.assertIn('dh', str(e.exception))


class TestEdgeValues(InstanceRecipes):
    """Every value validation accepts, re6st-registry starts with: the
    real one, run as the release runs it, on each edge value."""

    PASSWORDS = ('p-ss', 'a@b', 'with space', '"quoted"', "it's", '#hash',
                 '$HOME', '%(x)s', 'caf\u00e9', 'semi;colon', 'back\\slash',
                 'x' * 200)

    def test_re6st_registry_starts_with_each(self):
        ca.ensure_ca(self.path('ca.key'), self.path('ca.crt'),
                     self.path('dh.pem'), 2048, '2001:db8:42::/48')
        for password in self.PASSWORDS:
            for user in 'registry', 'u-@#':
                request = {'mailhost': 'smtp.example.com:2525',
                           'smtp-user': user, 'smtp-password': password}
                port = free_port()
                _, _, config = self.run_recipes(request, '127.0.0.1', port)
                parsed = self.parsed(config)
                self.assertEqual((parsed.smtp_user, parsed.smtp_pwd),
                                 (user, password))
                self.assertRegistryStarts(config, port, password)

    def test_re6st_registry_starts_with_each_integer_edge(self):
        """The schema's bounds of each integer the registry reads (the
        largest 32-bit value where it has none); an edge the release's
        own checks refuse (a prefix length past the network's) is
        refused with a sentence naming it, and left out."""
        ca.ensure_ca(self.path('ca.key'), self.path('ca.crt'),
                     self.path('dh.pem'), 2048, '2001:db8:42::/48')
        with open(SCHEMA_PATH) as f:
            schema = json.load(f)['properties']
        refused = set()
        for name in REGISTRY_INTEGERS:
            for value in (schema[name]['minimum'],
                          schema[name].get('maximum', 2 ** 31 - 1)):
                port = free_port()
                try:
                    _, _, config = self.run_recipes({name: value},
                                                    '127.0.0.1', port)
                except zc.buildout.UserError as e:
                    self.assertIn(repr(name), str(e))
                    refused.add((name, value))
                    continue
                self.assertRegistryStarts(config, port, (name, value))
        # past the /48's 80 bits, and fewer than client-count's default
        self.assertEqual(refused, {('prefix-length', 127),
                                   ('anonymous-prefix-length', 127),
                                   ('max-clients', 1)})

    def assertRegistryStarts(self, config, port, what):
        registry = subprocess.Popen(
            REGISTRY_SERVICE + ['@' + config['output']],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            self.assertTrue(wait_for(lambda: listening(port) or
                                     registry.poll() is not None, 30, 0.05))
            self.assertIsNone(registry.poll(), what)
        finally:
            registry.terminate()
            registry.wait()

    def test_what_the_configuration_syntax_would_misread_is_refused(self):
        for name in 'smtp-user', 'smtp-password':
            for value in '-v', '@/etc/passwd':
                request = {'mailhost': 'smtp.example.com',
                           'smtp-user': 'u', 'smtp-password': 'p'}
                request[name] = value
                with self.assertRaises(zc.buildout.UserError) as e:
                    self.run_recipes(request)
                self.assertIn(repr(name), str(e.exception))
                if name == 'smtp-password':
                    self.assertNotIn(value, str(e.exception))
                self.assertFalse(os.path.exists(self.path('etc',
                                 're6st-registry.conf')))

    def test_the_recipe_refuses_what_re6st_registry_refuses(self):
        """The last safety net: the configuration parsed by re6st-registry's
        own parser before anything is written."""
        slap_options = self.slap_options({})
        params = self.parameters_options(slap_options)
        params['min-protocol'] = '99'  # past what validation allows
        config = {k: self.path(k) for _, k in registry_config.OPTIONS}
        config.update({'output': self.path('etc', 'x.conf'), 'port': '9200',
                       'ipv4': '10.0.0.1', 'prefix-length': '16',
                       'min-protocol': params['min-protocol']})
        with self.assertRaises(zc.buildout.UserError) as e:
            registry_recipe.Recipe(None, 'registry-config', config)
        self.assertIn('min-protocol', str(e.exception))
        self.assertFalse(os.path.exists(config['output']))


def listening(port):
    try:
        socket.create_connection(('127.0.0.1', port), 1).close()
        return True
    except OSError:
        return False
