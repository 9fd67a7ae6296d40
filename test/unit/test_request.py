"""The request on its way in: what the master says (lib.slap), the
slap-configuration recipe, the parameters recipe; secrets handed over in a
0600 file, never option values (so never in .installed.cfg), never shown."""
import io
import json
import os
import shlex
import stat
import unittest
from unittest import mock

import zc.buildout
import zc.buildout.buildout

from slapos_re6st.lib import slap
from slapos_re6st.lib.slap import SECRET_MARKER
from slapos_re6st.recipe import parameters as parameters_recipe
from slapos_re6st.recipe import slapconfiguration
from support import SCHEMA_PATH
from support.profile import SECRETS, InstanceRecipes, fake_buildout

PASSWORD = 'pa ss"w\'ord#$1-%(x)s-${y}'


class TestSlapConfiguration(unittest.TestCase):

    def test_json_in_xml(self):
        self.assertEqual(slap.request_parameters(
            {'_': '{"prefix-length": 20}', 'ip_list': [],
             'full_address_list': []}), {'prefix-length': 20})
        self.assertEqual(slap.request_parameters({'_': ''}), {})

    def test_plain_xml(self):
        self.assertEqual(slap.request_parameters(
            {'prefix-length': '20', 'ip_list': [], 'slap_software_type': 'x'}),
            {'prefix-length': '20'})

    def test_not_an_object(self):
        for raw in ('[1]', '{', '"x"'):
            with self.assertRaises(ValueError):
                slap.request_parameters({'_': raw})

    def test_addresses(self):
        self.assertEqual(slap.partition_addresses(
            [('lo', '127.0.0.2'), ('lo', '::1'), ('lo', '127.0.0.1'),
             ('tap', 'fe80::1'), ('x', 'garbage')]), ('127.0.0.1', '::1'))
        self.assertEqual(slap.partition_addresses([]), ('', ''))


class TestSecret(InstanceRecipes):
    """The SMTP password is never an option value, hence never in
    .installed.cfg, and never in a sentence."""

    request = {'mailhost': 'smtp.example.com:587', 'smtp-user': 'registry',
               'smtp-password': PASSWORD, 'smtp-starttls': True}

    def slap_configuration(self, request, plain=False, schema=SCHEMA_PATH):
        """Options of the real slap-configuration recipe, the master
        answering `request` (json-in-xml, or plain XML: as it is)."""
        partition = mock.Mock()
        partition.getInstanceParameterDict.return_value = dict(
            request if plain else {'_': json.dumps(request)},
            ip_list=[('lo', '10.0.0.1')], slap_software_type='default',
            slave_instance_list=[])
        partition.getState.return_value = 'started'
        connection = mock.Mock()
        connection.registerComputerPartition.return_value = partition
        options = {'url': 'http://master/', 'computer': 'COMP-0',
                   'partition': 'slappart0',
                   'secrets-file': self.secrets_file(),
                   'schema': schema}
        os.makedirs(self.path('etc'), exist_ok=True)
        with mock.patch('slapos.slap.slap', return_value=connection):
            slapconfiguration.Recipe(fake_buildout(self.dir),
                                     'slap-configuration', options)
        return options

    def installed_cfg(self, sections):
        """What buildout would record of these sections."""
        out = io.StringIO()
        for name, options in sorted(sections.items()):
            zc.buildout.buildout._save_options(name, options, out)
        return out.getvalue()

    def test_never_an_option_value(self):
        slap = self.slap_configuration(self.request)
        self.assertNotIn(PASSWORD, json.dumps(slap))
        self.assertEqual(json.loads(slap['parameters'])['smtp-password'],
                         SECRET_MARKER)
        # handed over in a file of the partition's user only
        self.assertEqual(stat.S_IMODE(os.stat(
            slap['secrets-file']).st_mode), 0o600)
        # the rest of the profile, from what slap-configuration read
        params = self.parameters_options(slap)
        _, _, config = self.run_recipes(self.request)
        sections = {'slap-configuration': slap, 'parameters': params,
                    'registry-config': config}
        for name, options in sections.items():
            for key, value in options.items():
                self.assertNotIn(PASSWORD, value, (name, key))
        recorded = self.installed_cfg(sections)
        self.assertNotIn(PASSWORD, recorded)
        self.assertNotIn(shlex.quote(PASSWORD), recorded)
        self.assertIn(SECRET_MARKER, recorded)
        # ... but the registry gets it, from files only it can read
        self.assertEqual(self.parsed(config).smtp_pwd, PASSWORD)
        with open(config['output']) as f:
            self.assertNotIn(PASSWORD, f.read())
        self.assertEqual(stat.S_IMODE(os.stat(
            config['smtp-password-file']).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(config['output']).st_mode),
                         0o600)

    def test_refused_requests_never_show_it(self):
        request = dict(self.request, mailhost='')
        slap = self.slap_configuration(request)
        with self.assertRaises(zc.buildout.UserError) as e:
            self.parameters_options(slap)
        self.assertIn("'smtp-password' is (not shown)", str(e.exception))
        self.assertNotIn(PASSWORD, str(e.exception))
        # a password on two lines is refused, without being shown either
        slap = self.slap_configuration(dict(
            self.request, **{'smtp-password': 'a\nb'}))
        with self.assertRaises(zc.buildout.UserError) as e:
            self.parameters_options(slap)
        self.assertIn("'smtp-password' is (not shown)", str(e.exception))
        self.assertNotIn('a\nb', str(e.exception))

    def test_plain_xml_request_of_strings(self):
        """`slapos request --parameters NAME=VALUE` sends plain XML, every
        value a string: the options hold the values they stand for, the
        secret handed over as from json-in-xml."""
        as_text = dict(self.request, **{'smtp-starttls': 'true',
                                        'prefix-length': '20',
                                        'same-country': '[]'})
        slap = self.slap_configuration(as_text, plain=True)
        self.assertNotIn(PASSWORD, json.dumps(slap))
        params = self.parameters_options(slap)
        self.assertEqual(
            (params['smtp-starttls'], params['prefix-length'],
             params['same-country'], params['smtp-password']),
            ('true', '20', '', SECRET_MARKER))
        typed = self.parameters_options(self.slap_configuration(dict(
            self.request, **{'prefix-length': 20, 'same-country': []})))
        for options in params, typed:
            del options['parameters']  # the request, as it came
        self.assertEqual(params, typed)

    def test_marker_without_the_secret_is_refused(self):
        shown, _ = slap.hide_secrets(self.request, SECRETS)
        with self.assertRaises(zc.buildout.UserError):
            self.parameters_options({'parameters': json.dumps(shown),
                                     'secrets-file': self.path('none')})

    def test_the_schema_says_which_parameters_are_secrets(self):
        """"writeOnly" in the schema, and nothing else, makes a secret."""
        with open(SCHEMA_PATH) as f:
            schema = json.load(f)
        schema['properties']['hello']['writeOnly'] = True
        del schema['properties']['smtp-password']['writeOnly']
        path = self.path('schema.json')
        with open(path, 'w') as f:
            json.dump(schema, f)
        options = self.slap_configuration(
            {'hello': 20, 'smtp-password': 'not-secret'}, schema=path)
        self.assertEqual(json.loads(options['parameters']), {
            'hello': SECRET_MARKER, 'smtp-password': 'not-secret'})
        self.assertEqual(slap.read_secrets(self.secrets_file()),
                         {'hello': 20})

    def test_everything_but_empty_is_hidden(self):
        shown, secrets = slap.hide_secrets({'smtp-password': ''}, SECRETS)
        self.assertEqual((shown, secrets), ({'smtp-password': ''}, {}))
        self.assertEqual(slap.hide_secrets({}, SECRETS), ({}, {}))
        for value in PASSWORD, 12345, None, ['x']:
            shown, secrets = slap.hide_secrets(
                {'smtp-password': value, 'hello': 20}, SECRETS)
            self.assertEqual(shown, {'hello': 20, 'smtp-password':
                                     SECRET_MARKER})
            self.assertEqual(secrets, {'smtp-password': value})

    def test_invalid_secret_refused_not_recorded_nor_shown(self):
        slap = self.slap_configuration(dict(self.request,
                                            **{'smtp-password': 987654}))
        self.assertNotIn('987654', json.dumps(slap))
        with self.assertRaises(zc.buildout.UserError) as e:
            self.parameters_options(slap)
        self.assertIn("'smtp-password' is (not shown) but must be a JSON"
                      " string", str(e.exception))
        self.assertNotIn('987654', str(e.exception))

    def test_integral_numbers_become_integer_options(self):
        # JSON Schema's integers include 7200.0: the recipes read ints
        options = self.parameters_options(self.slap_options(
            {'backup-period': 7200.0, 'prefix-length': 20.0}))
        self.assertEqual(options['backup-period'], '7200')
        self.assertEqual(options['prefix-length'], '20')

    def test_invalid_request_sets_no_option(self):
        slap_options = self.slap_options({'key-size': 1024})
        options = {'parameters': slap_options['parameters'],
                   'secrets-file': slap_options['secrets-file'],
                   'schema': SCHEMA_PATH, 'registry-port': '9200'}
        with self.assertRaises(zc.buildout.UserError) as e:
            parameters_recipe.Recipe(fake_buildout(self.dir), 'parameters',
                                     options)
        self.assertIn("'key-size'", str(e.exception))
        self.assertNotIn('key-size', options)

    def test_secrets_file_follows_the_request(self):
        self.slap_options(self.request)
        self.assertEqual(slap.read_secrets(self.secrets_file()),
                         {'smtp-password': PASSWORD})
        # a request without it: the file no longer holds it
        self.slap_options({})
        self.assertEqual(slap.read_secrets(self.secrets_file()), {})
