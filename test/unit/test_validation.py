"""The request validated against instance-input-schema.json
(slapos_re6st.lib.validation): every parameter, each kind of invalid value,
the rules between parameters, the community file as re6st reads it."""
import io
import json
import unittest
from unittest import mock

from slapos_re6st.lib import community, registry_rules, strings
from slapos_re6st.lib.schema import defaults, load_schema
from slapos_re6st.lib import validation
from support import SCHEMA_PATH
from harness.mmdb import country_mmdb
from harness.tempdir import TempDir

SCHEMA = load_schema(SCHEMA_PATH)
PASSWORD = 'pa ss"w\'ord#$1-%(x)s-${y}'


class TestSchema(unittest.TestCase):

    def test_every_property_has_title_description_type_default(self):
        for name, prop in SCHEMA['properties'].items():
            for key in 'title', 'description', 'type', 'default':
                self.assertIn(key, prop, name)

    def test_defaults(self):
        values = validation.resolve({}, SCHEMA, 9200)
        self.assertEqual(values, {
            'ipv6-prefix': '2001:db8:42::/48', 'prefix-length': 16,
            'anonymous-prefix-length': 0, 'key-size': 2048,
            'forward-ipv4': '', 'forward-port': 9201, 'host-node-ip': [],
            'host-node-run': '/var/run/re6stnet', 'mailhost': '',
            'smtp-user': '', 'smtp-password': '', 'smtp-starttls': False,
            'ipv4-net': '', 'client-count': 10, 'max-clients': None,
            'tunnel-refresh': 300, 'hello': 15, 'min-protocol': 1,
            'encrypt': False, 'same-country': [], 'geoip2-mmdb': '',
            'community': '', 'grace-period': 8640000, 'verbose': 1,
            'backup-period': 3600, 'backup-keep': 24,
            'backup-repository': ''})

    def test_defaults_are_re6st_registry_defaults(self):
        """What the schema says by default is what re6st-registry does
        without the option (but for verbose and the like, written anyway)."""
        from re6st import version
        self.assertEqual(
            (SCHEMA['properties']['min-protocol']['minimum'],
             SCHEMA['properties']['min-protocol']['maximum']),
            (version.min_protocol, version.protocol))
        self.assertEqual(registry_rules.protocol_range(),
                         (version.min_protocol, version.protocol))


class TestForward(unittest.TestCase):
    """The parameters of the public side and the CA."""

    def resolve(self, **params):
        return validation.resolve(params, SCHEMA, 9200)

    def problems(self, **params):
        return validation.problems(params, SCHEMA, 9200)

    def test_defaults_come_from_the_schema(self):
        values = self.resolve()
        self.assertEqual(values, defaults(SCHEMA))
        self.assertEqual(
            {k: values[k] for k in ('ipv6-prefix', 'prefix-length',
                                    'key-size', 'forward-ipv4',
                                    'forward-port')},
            {'ipv6-prefix': '2001:db8:42::/48', 'prefix-length': 16,
             'key-size': 2048, 'forward-ipv4': '', 'forward-port': 9201})

    def test_valid_set(self):
        values = self.resolve(**{
            'ipv6-prefix': '2001:DB8:ABCD::/48', 'prefix-length': 24,
            'key-size': 4096, 'forward-ipv4': '192.0.2.1',
            'forward-port': 443})
        self.assertEqual(values['key-size'], 4096)
        self.assertEqual(values['ipv6-prefix'], '2001:db8:abcd::/48')

    def assertProblem(self, params, *words):
        found = self.problems(**params)
        self.assertEqual(len(found), 1, found)
        for word in words:
            self.assertIn(word, found[0])
        with self.assertRaises(ValueError):
            self.resolve(**params)

    def test_each_kind_of_invalid_value(self):
        self.assertProblem({'prefix-length': 200}, "'prefix-length'", '200',
                           'from 1 to 127')
        self.assertProblem({'prefix-length': '16x'}, "'prefix-length'",
                           'JSON integer', 'decimal digits')
        self.assertProblem({'key-size': 1024}, "'key-size'", '1024', '2048')
        self.assertProblem({'forward-port': 0}, "'forward-port'", 'from 1')
        self.assertProblem({'forward-port': 9200}, "'forward-port'", '9200',
                           'another port')
        self.assertProblem({'forward-ipv4': '::1'}, "'forward-ipv4'", '::1',
                           'IPv4')
        self.assertProblem({'forward-ipv4': '300.1.1.1'}, "'forward-ipv4'")
        self.assertProblem({'ipv6-prefix': 'not-a-prefix'}, "'ipv6-prefix'")
        self.assertProblem({'ipv6-prefix': '2001:db8:42::1/48'},
                           "'ipv6-prefix'", 'host bits',
                           'request 2001:db8:42::/48.')
        self.assertProblem({'ipv6-prefix': '2001:db8::/120',
                            'prefix-length': 16},
                           "'prefix-length'", 'at most 8')

    def test_host_bits_name_the_network_to_request(self):
        """A prefix with host bits set is refused, never changed (it goes
        into the CA), with the network it lies in to request instead."""
        found = self.problems(**{'ipv6-prefix': 'fc01::/7'})
        self.assertEqual(found, [
            "'ipv6-prefix' is \"fc01::/7\" but fc01::/7 has host bits set:"
            " the network it lies in is fc00::/7; request fc00::/7, or a"
            " prefix of at least 16 bits that starts at fc01::, like"
            " fc01::/16, if that is the network you meant."])
        with self.assertRaises(ValueError):
            self.resolve(**{'ipv6-prefix': 'fc01::/7'})
        # both ways out are valid
        for prefix in 'fc00::/7', 'fc01::/16':
            self.assertEqual(self.resolve(**{'ipv6-prefix': prefix})[
                'ipv6-prefix'], prefix)
        # no longer prefix to offer when the address needs all 128 bits
        self.assertProblem({'ipv6-prefix': 'fc00::1/7'},
                           'the network it lies in is fc00::/7; request'
                           ' fc00::/7.')

    def test_unknown_parameter_lists_the_known_ones(self):
        found = self.problems(**{'prefix-lenght': 16})
        self.assertEqual(len(found), 1, found)
        self.assertIn("'prefix-lenght'", found[0])
        for name in SCHEMA['properties']:
            self.assertIn(name, found[0])

    def test_every_problem_is_reported(self):
        found = self.problems(**{'prefix-length': 0, 'key-size': 1,
                                 'forward-port': 'x'})
        self.assertEqual(len(found), 3, found)


class TestStrings(TempDir):
    """Parameters as `slapos request --parameters NAME=VALUE` (and any
    request in plain XML) send them: strings, read as the value of the
    type the schema declares when they stand for one, refused otherwise."""

    def resolve(self, **params):
        return validation.resolve(params, SCHEMA, 9200)

    def assertRefused(self, name, value, *words, shown=None):
        """`value` of `name` refused in one sentence that shows it (as
        `shown`: converted) and holds `words`."""
        found = validation.problems({name: value}, SCHEMA, 9200)
        self.assertEqual(len(found), 1, found)
        self.assertTrue(found[0].startswith('%r is %s but must be' % (
            name, json.dumps(value) if shown is None else shown)), found[0])
        for word in words:
            self.assertIn(word, found[0])
        with self.assertRaises(ValueError):
            self.resolve(**{name: value})

    def test_integers(self):
        values = self.resolve(**{'prefix-length': '16', 'forward-port': '443',
                                 'grace-period': '0'})
        self.assertEqual((values['prefix-length'], values['forward-port'],
                          values['grace-period']), (16, 443, 0))
        for value in ('16.5', '', ' 16x', '16x', 'true', ' 16', '16 ',
                      '+16', '016', '0x10', '1e2', '١٦'):
            self.assertRefused('prefix-length', value, 'JSON integer',
                               'decimal digits like "16"')
        # converted, then checked like any integer
        self.assertRefused('prefix-length', '200', 'from 1 to 127',
                           shown='200')
        self.assertRefused('anonymous-prefix-length', '-1', 'from 0 to 127',
                           shown='-1')
        self.assertRefused('key-size', '1024', '2048, 3072, 4096',
                           shown='1024')

    def test_booleans(self):
        for text, value in (('true', True), ('false', False),
                            ('True', True), ('FALSE', False)):
            self.assertIs(self.resolve(encrypt=text)['encrypt'], value)
        for text in '1', '0', 'yes', 'no', 'on', '', ' true', 't':
            self.assertRefused('encrypt', text, 'JSON boolean',
                               '"true" or "false"')

    def test_arrays(self):
        values = self.resolve(**{
            'same-country': '["FR", "DE"]',
            'geoip2-mmdb': country_mmdb(self.dir),
            'host-node-ip': '["192.0.2.1", "2001:db8::1"]'})
        self.assertEqual(values['same-country'], ['FR', 'DE'])
        self.assertEqual(values['host-node-ip'], ['192.0.2.1', '2001:db8::1'])
        self.assertEqual(self.resolve(**{'host-node-ip': '[]'})[
            'host-node-ip'], [])
        for text in 'FR', 'FR DE', '"FR"', '{"FR": 1}', '["FR"', '':
            self.assertRefused('same-country', text, 'JSON array',
                               'the JSON text of an array',
                               'like ["FR", "DE"]')
        # converted, then checked item by item
        found = validation.problems({'host-node-ip': '["192.0.2.300"]'},
                                    SCHEMA, 9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn("'host-node-ip' item 0", found[0])

    def test_integer_or_null(self):
        """null cannot be sent as XML: "null", or an empty string, stands
        for it where the type admits null (max-clients)."""
        for text in 'null', '':
            self.assertIsNone(self.resolve(**{'max-clients': text})[
                'max-clients'])
        self.assertEqual(self.resolve(**{'max-clients': '12'})[
            'max-clients'], 12)
        for text in 'many', 'None', 'NULL', '12.0':
            self.assertRefused('max-clients', text, 'JSON integer or null',
                               '"null" or "" for null')
        # an empty string is no integer where null is not allowed
        self.assertRefused('client-count', '', 'JSON integer')

    def test_strings_stay_strings(self):
        values = self.resolve(**{'mailhost': '25', 'smtp-user': 'true',
                                 'smtp-password': '16',
                                 'forward-ipv4': ''})
        self.assertEqual((values['mailhost'], values['smtp-user'],
                          values['smtp-password'], values['forward-ipv4']),
                         ('25', 'true', '16', ''))
        # unknown parameters are refused as they are
        found = validation.problems({'prefix-lenght': '16'}, SCHEMA, 9200)
        self.assertIn("'prefix-lenght'", found[0])

    def test_a_request_in_plain_xml_is_the_same_request(self):
        """Every parameter as text gives the values of the JSON request."""
        request = {
            'ipv6-prefix': '2001:db8:4300::/40', 'prefix-length': 20,
            'anonymous-prefix-length': 24, 'key-size': 3072,
            'forward-ipv4': '127.0.0.1', 'forward-port': 19301,
            'host-node-ip': ['192.0.2.1'], 'mailhost': 'smtp.example.com:587',
            'smtp-user': 'registry', 'smtp-password': PASSWORD,
            'smtp-starttls': True, 'ipv4-net': '10.42.0.0/16 24',
            'client-count': 4, 'max-clients': None, 'tunnel-refresh': 120,
            'hello': 30, 'min-protocol': 7, 'encrypt': False,
            'same-country': ['FR', 'DE'], 'geoip2-mmdb': country_mmdb(
                self.dir), 'grace-period': 86400, 'verbose': 2,
            'backup-period': 600, 'backup-keep': 3}
        as_text = {name: value if isinstance(value, str)
                   else '' if value is None
                   else json.dumps(value) for name, value in request.items()}
        self.assertTrue(all(isinstance(v, str) for v in as_text.values()))
        self.assertEqual(self.resolve(**as_text), self.resolve(**request))
        self.assertEqual(strings.typed(as_text, SCHEMA), request)

    def test_secrets_are_never_shown(self):
        schema = dict(SCHEMA, properties=dict(
            SCHEMA['properties'], **{'secret-number': {
                'title': 'A secret number', 'description': 'Secret.',
                'type': 'integer', 'writeOnly': True, 'default': 0}}))
        self.assertEqual(validation.resolve(
            {'secret-number': '4321'}, schema, 9200)['secret-number'], 4321)
        found = validation.problems({'secret-number': '4321x'}, schema, 9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn("'secret-number' is (not shown)", found[0])
        self.assertNotIn('4321', found[0])


class TestValidation(TempDir):

    def mmdb(self, database_type='GeoLite2-Country'):
        return country_mmdb(self.dir, database_type)

    def problems(self, **params):
        return validation.problems(params, SCHEMA, 9200)

    def assertValid(self, **params):
        self.assertEqual(self.problems(**params), [])
        return validation.resolve(params, SCHEMA, 9200)

    def assertProblem(self, params, *words, count=1):
        found = self.problems(**params)
        self.assertEqual(len(found), count, found)
        for word in words:
            self.assertIn(word, found[0])
        for sentence in found:
            self.assertTrue(sentence.endswith('.'), sentence)
        with self.assertRaises(ValueError):
            validation.resolve(params, SCHEMA, 9200)
        return found

    def test_key_size(self):
        for size in 2048, 3072, 4096:
            self.assertValid(**{'key-size': size})
        self.assertProblem({'key-size': 1024}, "'key-size'", '1024',
                           '2048, 3072, 4096')

    def test_anonymous_prefix_length(self):
        self.assertValid(**{'anonymous-prefix-length': 0})
        self.assertValid(**{'anonymous-prefix-length': 80})
        self.assertProblem({'anonymous-prefix-length': -1},
                           "'anonymous-prefix-length'", 'from 0 to 127')
        self.assertProblem({'anonymous-prefix-length': '8.5'},
                           "'anonymous-prefix-length'", 'integer')
        self.assertProblem({'anonymous-prefix-length': 81},
                           "'anonymous-prefix-length' is 81",
                           'room for 80 bits', 'at most 80')
        self.assertProblem({'ipv6-prefix': '2001:db8::/120',
                            'prefix-length': 8,
                            'anonymous-prefix-length': 9},
                           "'anonymous-prefix-length'", 'at most 8')

    def test_mailhost(self):
        for mailhost in ('', 'smtp.example.com', 'smtp.example.com:587',
                         'localhost', '192.0.2.25:2525', '2001:db8::25',
                         '/var/mail/re6st.mbox', self.path('tokens.mbox')):
            self.assertValid(mailhost=mailhost)
        for mailhost, words in (
                ('smtp.example.com:0', ('HOST:PORT',)),
                ('smtp.example.com:99999', ('from 1 to 65535',)),
                ('smtp.example.com:smtp', ()),
                ('[2001:db8::25]:25', ('without brackets',)),
                ('smtp_server', ()),
                ('-smtp.example.com', ()),
                ('/var/mail/../re6st.mbox',
                 ('normalised', '"/var/re6st.mbox"')),
                ('/var/mail/', ('normalised',)),
                (self.dir, ('a directory',)),
                ('smtp.example.com\n', ('one line',)),
                (' smtp.example.com', ('spaces',))):
            self.assertProblem({'mailhost': mailhost}, "'mailhost' is", *words)
        self.assertProblem({'mailhost': 25}, "'mailhost'", 'JSON string')

    def test_smtp_options_need_an_smtp_mailhost(self):
        smtp = {'smtp-user': 'u', 'smtp-password': PASSWORD,
                'smtp-starttls': True}
        self.assertValid(mailhost='smtp.example.com:587', **smtp)
        self.assertValid(mailhost='smtp.example.com',
                         **{'smtp-starttls': True})
        for mailhost in '', '/var/mail/re6st.mbox':
            found = self.assertProblem(
                dict(mailhost=mailhost, **smtp), "'smtp-", "'mailhost' is",
                'only used with an SMTP mailhost', count=3)
            self.assertTrue(any("'smtp-password' is (not shown)" in f
                                for f in found), found)
            self.assertNotIn(PASSWORD, ' '.join(found))

    def test_smtp_user_and_password_go_together(self):
        self.assertProblem({'mailhost': 'smtp.example.com',
                            'smtp-user': 'u'},
                           "'smtp-user' is \"u\"", "'smtp-password' is empty",
                           'both or neither')
        found = self.assertProblem({'mailhost': 'smtp.example.com',
                                    'smtp-password': PASSWORD},
                                   "'smtp-password' is set")
        self.assertNotIn(PASSWORD, found[0])

    def test_smtp_password_is_never_shown(self):
        for password in (PASSWORD + '\n', 12345, PASSWORD + '\x00'):
            found = self.assertProblem({'mailhost': 'smtp.example.com',
                                        'smtp-user': 'u',
                                        'smtp-password': password},
                                       "'smtp-password' is (not shown)")
            self.assertNotIn(str(password), found[0])
            self.assertNotIn(PASSWORD, found[0])
        # spaces around a password are the password's
        self.assertValid(**{'mailhost': 'smtp.example.com', 'smtp-user': 'u',
                            'smtp-password': ' ' + PASSWORD + ' '})
        # re6st-registry's configuration syntax: - is an option, @ a file
        for value in '-' + PASSWORD, '@' + PASSWORD:
            found = self.assertProblem(
                {'mailhost': 'smtp.example.com', 'smtp-user': 'u',
                 'smtp-password': value}, "'smtp-password' is (not shown)",
                "must not start with %s" % value[0])
            self.assertNotIn(PASSWORD, found[0])
        self.assertProblem({'mailhost': 'smtp.example.com',
                            'smtp-user': '-u', 'smtp-password': 'p'},
                           "'smtp-user' is \"-u\"", 'an option')

    def test_smtp_starttls_is_a_boolean(self):
        self.assertProblem({'mailhost': 'smtp.example.com',
                            'smtp-starttls': 'yes'},
                           "'smtp-starttls'", 'JSON boolean')

    def test_ipv4_net(self):
        for value in '', '10.42.0.0/16 24', '192.168.0.0/24 32', '0.0.0.0/0 8':
            self.assertValid(**{'ipv4-net': value})
        self.assertEqual(registry_rules.ipv4_network('10.42.0.0/16 24')[1], 24)
        for value, words in (
                ('10.42.0.0/16', ('"IP/N PLEN"',)),
                ('10.42.0.1/16 24', ('10.42.0.1/16 has host bits set',
                                     'lies in is 10.42.0.0/16',
                                     'request "10.42.0.0/16 24".')),
                ('10.43.0.0/15 24', ('lies in is 10.42.0.0/15',
                                     'request "10.42.0.0/15 24", or',
                                     'like "10.43.0.0/16 24"')),
                ('10.42.0.0/16 16', ('longer than', '(16)')),
                ('10.42.0.0/16 33', ('at most 32',)),
                ('10.42.0.0/16 8', ('longer than',)),
                ('300.42.0.0/16 24', ('IPv4 network',)),
                ('10.42.0.0/16  24', ()),
                ('fd00::/8 16', ())):
            self.assertProblem({'ipv4-net': value}, "'ipv4-net' is", *words)

    def test_client_count_and_max_clients(self):
        self.assertValid(**{'client-count': 1})
        self.assertValid(**{'client-count': 4, 'max-clients': 4})
        self.assertValid(**{'client-count': 4, 'max-clients': None})
        self.assertProblem({'client-count': 0}, "'client-count'",
                           'from 1 to inf')
        self.assertProblem({'max-clients': 0}, "'max-clients'", 'from 1')
        self.assertProblem({'max-clients': 'many'}, "'max-clients'",
                           'integer or null')
        self.assertProblem({'max-clients': 9}, "'max-clients' is 9",
                           'at least client-count (10)')
        self.assertProblem({'client-count': 20, 'max-clients': 19},
                           "'max-clients' is 19", 'client-count (20)')

    def test_intervals(self):
        for name in 'tunnel-refresh', 'hello':
            self.assertValid(**{name: 1})
            self.assertProblem({name: 0}, repr(name), 'from 1 to inf')
            self.assertProblem({name: 1.5}, repr(name), 'JSON integer')
        self.assertValid(**{'grace-period': 0})
        self.assertProblem({'grace-period': -1}, "'grace-period'", 'from 0')

    def test_backups(self):
        self.assertValid(**{'backup-period': 60, 'backup-keep': 1})
        self.assertProblem({'backup-period': 59}, "'backup-period' is 59",
                           'from 60')
        self.assertProblem({'backup-period': '1h'}, "'backup-period'",
                           'JSON integer')
        self.assertProblem({'backup-keep': 0}, "'backup-keep' is 0",
                           'from 1')
        self.assertProblem({'backup-keep': 2.5}, "'backup-keep'",
                           'JSON integer')

    def test_backup_repository(self):
        for url in ('/srv/git/registry.git', 'file:///srv/git/r.git',
                    'https://bob:%s@git.example.com/r.git' % 'x%20y',
                    'git@git.example.com:net/registry.git',
                    'ssh://git@[2001:db8::1]:2222/r.git'):
            self.assertValid(**{'backup-repository': url})
        found = self.assertProblem(
            {'backup-repository': 'https://bob:hunter2@git.example.com'},
            "'backup-repository' is \"https://bob:***@git.example.com\"",
            'repository path')
        self.assertNotIn('hunter2', found[0])
        found = self.assertProblem(
            {'backup-repository': 'https://bob:hunter2@x.org/r.git\n'},
            "'backup-repository' is \"https://bob:***@x.org/r.git\\n\"",
            'one line')
        self.assertNotIn('hunter2', found[0])
        self.assertProblem({'backup-repository': 'git://x.org/r.git'},
                           'cannot push')
        self.assertProblem({'backup-repository': 42},
                           "'backup-repository' is (not shown)", 'JSON string')
        with mock.patch('shutil.which', return_value=None):
            found = self.assertProblem(
                {'backup-repository': 'git@x.org:r.git'}, count=2)
        self.assertIn('apt-get install git', found[0])
        self.assertIn('apt-get install openssh-client', found[1])

    def test_min_protocol_follows_the_installed_re6st(self):
        from re6st import version
        self.assertValid(**{'min-protocol': version.min_protocol})
        self.assertValid(**{'min-protocol': version.protocol})
        self.assertProblem({'min-protocol': version.protocol + 1},
                           "'min-protocol'")
        self.assertProblem({'min-protocol': 0}, "'min-protocol'")
        # the range is re6st's at validation time, not only the schema's
        with mock.patch.object(version, 'protocol', 5):
            self.assertProblem({'min-protocol': 6}, "'min-protocol' is 6",
                               'protocols 1 to 5')

    def test_encrypt(self):
        self.assertValid(encrypt=True)
        self.assertProblem({'encrypt': 1}, "'encrypt'", 'JSON boolean')

    def test_same_country(self):
        mmdb = self.mmdb()
        values = self.assertValid(**{'same-country': ['FR', 'DE'],
                                     'geoip2-mmdb': mmdb})
        self.assertEqual(values['same-country'], ['FR', 'DE'])
        for value, words in (
                (['fr'], ("'same-country' item 0 is \"fr\" but must be an"
                          " ISO 3166 alpha-2 country code in upper case",)),
                (['FRA'], ('item 0',)),
                (['FR', 'FR'], ('distinct',)),
                (['FR', 1], ('item 1 is 1',)),
                ('FR', ('JSON array',))):
            self.assertProblem({'same-country': value, 'geoip2-mmdb': mmdb},
                               *words)
        self.assertProblem({'same-country': ['FR']}, "'same-country' is",
                           "set 'geoip2-mmdb'")

    def test_geoip2_mmdb(self):
        self.assertValid(**{'geoip2-mmdb': self.mmdb()})
        self.assertValid(**{'geoip2-mmdb': self.mmdb(
            'DBIP-Country-Lite' + 'x' * 30)})  # a longer type name
        # what only looks like one (its metadata marker): geoip2, as
        # re6st-registry opens it at start, refuses it
        damaged = self.path('damaged.mmdb')
        with open(damaged, 'wb') as f:
            f.write(b'\0' * 64 + b'\xab\xcd\xefMaxMind.com' + b'\xff' * 32)
        self.assertProblem({'geoip2-mmdb': damaged}, "'geoip2-mmdb'",
                           'no MaxMind DB file')
        self.assertProblem({'geoip2-mmdb': 'country.mmdb'}, "'geoip2-mmdb'",
                           'absolute path')
        self.assertProblem({'geoip2-mmdb': self.path('none.mmdb')},
                           "'geoip2-mmdb'", 'no such file')
        self.assertProblem({'geoip2-mmdb': self.mmdb('GeoLite2-City')},
                           "'geoip2-mmdb'", 'a GeoLite2-City database',
                           'not a country database')
        other = self.path('other.mmdb')
        with open(other, 'wb') as f:
            f.write(b'not a database')
        self.assertProblem({'geoip2-mmdb': other}, "'geoip2-mmdb'",
                           'no MaxMind DB file')

    def test_test_database_is_what_geoip2_reads(self):
        """The database the tests make is a MaxMind DB that geoip2 (in the
        release, not here) reads: checked when geoip2 is importable."""
        try:
            import geoip2.database
            import geoip2.errors
        except ImportError:
            self.skipTest('geoip2 is not installed here (only in the'
                          ' release)')
        reader = geoip2.database.Reader(self.mmdb())
        with self.assertRaises(geoip2.errors.AddressNotFoundError):
            reader.country('192.0.2.1')
        self.assertEqual(reader.metadata().database_type, 'GeoLite2-Country')

    def test_host_node(self):
        values = self.assertValid(**{'host-node-ip': ['192.0.2.1',
                                                      '2001:db8::1'],
                                     'host-node-run': '/run/re6st'})
        self.assertEqual(values['host-node-run'], '/run/re6st')
        self.assertProblem({'host-node-ip': ['192.0.2.300']},
                           "'host-node-ip' item 0", 'IPv4 or IPv6')
        self.assertProblem({'host-node-ip': '192.0.2.1'}, 'JSON array')
        self.assertProblem({'host-node-run': 'run'}, "'host-node-run'",
                           'absolute path')
        self.assertProblem({'host-node-run': '/run/../x'}, 'normalised')

    def test_verbose(self):
        for level in 0, 3:
            self.assertValid(verbose=level)
        self.assertProblem({'verbose': 4}, "'verbose'", 'from 0 to 3')

    def test_unknown_parameters_list_the_new_ones(self):
        found = self.assertProblem({'mail-host': 'x'}, "'mail-host'")
        for name in 'mailhost', 'same-country', 'community', 'verbose':
            self.assertIn(name, found[0])

    def test_every_problem_at_once(self):
        found = self.problems(**{
            'mailhost': 'smtp.example.com', 'smtp-user': 'u',
            'ipv4-net': '10.42.0.0/16 8', 'max-clients': 2,
            'same-country': ['FR'], 'prefix-length': 100})
        self.assertEqual(len(found), 5, found)

    def test_full_valid_set(self):
        values = self.assertValid(**{
            'ipv6-prefix': '2001:db8:4300::/40', 'prefix-length': 20,
            'anonymous-prefix-length': 24, 'key-size': 3072,
            'forward-ipv4': '127.0.0.1', 'forward-port': 19301,
            'mailhost': 'smtp.example.com:587', 'smtp-user': 'registry',
            'smtp-password': PASSWORD, 'smtp-starttls': True,
            'ipv4-net': '10.42.0.0/16 24', 'client-count': 4,
            'max-clients': 12, 'tunnel-refresh': 120, 'hello': 30,
            'min-protocol': 7, 'encrypt': True, 'same-country': ['FR', 'DE'],
            'geoip2-mmdb': self.mmdb(),
            'community': '# test\n0 *\n10 FR DE\n110 @EU\n',
            'grace-period': 86400, 'verbose': 2})
        self.assertEqual(values['same-country'], ['FR', 'DE'])


class TestCommunity(TempDir):

    def mmdb(self):
        return country_mmdb(self.dir)

    def problems(self, text, **params):
        params.setdefault('geoip2-mmdb', self.mmdb())
        return validation.problems(dict(community=text, **params), SCHEMA,
                                   9200)

    def test_valid(self):
        for text in ('0 *', '000 *\n001 @AS AU\n010 FR DE IT\n',
                     '# comment\n\n  1\t*  \r\n01 FR\r\n', '0 * FR'):
            self.assertEqual(self.problems(text), [], text)
        # a community naming only * needs no GeoIP2 database
        self.assertEqual(validation.problems(
            {'community': '01 *'}, SCHEMA, 9200), [])

    def assertProblem(self, text, *words, count=1):
        found = self.problems(text)
        self.assertEqual(len(found), count, found)
        for word in words:
            self.assertIn(word, found[0])

    def test_exactly_one_default(self):
        self.assertProblem('0 FR', 'default location * on 0 lines',
                           'exactly one')
        self.assertProblem('0 *\n1 *', 'on 2 lines')
        self.assertProblem('# only a comment\n', 'on 0 lines')

    def test_prefixes(self):
        self.assertProblem('0 *\nx1 FR', 'line 2 starts with "x1"',
                           '0s and 1s')
        self.assertProblem('* FR\n0 *', 'line 1 starts with "*"')
        self.assertProblem('0 *\n0 FR', 'line 2 repeats the prefix 0 of'
                           ' line 1')
        self.assertProblem('0 *\n01 FR', 'line 2 has the prefix 01, inside the'
                           ' prefix 0 of line 1', 'must not overlap')

    def test_locations(self):
        self.assertProblem('0 *\n1', 'line 2 names no location')
        self.assertProblem('0 *\n1 fr', 'line 2 names the location "fr"')
        self.assertProblem('0 *\n1 @XX', '"@XX"', '@EU')
        self.assertProblem('0 *\n1 FR # France', '"#"', count=2)
        self.assertProblem('0 *\n1 FR\n10 FR', 'line 3 names FR, already'
                           ' named on line 2', count=2)
        self.assertProblem('0 *\x0c1 FR', 'control characters')

    def test_room_for_the_node_prefixes(self):
        found = validation.problems(
            {'ipv6-prefix': '2001:db8::/112', 'prefix-length': 14,
             'community': '000 *'}, SCHEMA, 9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn("'prefix-length' is 14", found[0])
        self.assertIn('3 of which the longest community prefix takes',
                      found[0])
        self.assertIn('at most 13', found[0])

    def test_locations_need_a_geoip2_database(self):
        found = validation.problems({'community': '0 *\n1 FR @EU'}, SCHEMA,
                                    9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn('@EU, FR', found[0])
        self.assertIn("'geoip2-mmdb'", found[0])

    def test_re6st_reads_it_the_same_way(self):
        text = '# c\n\n000 *\n001 @AS AU\n\t010  FR DE IT \n'
        self.assertEqual(community.community_entries(text), [
            (3, '000', ['*']), (4, '001', ['@AS', 'AU']),
            (5, '010', ['FR', 'DE', 'IT'])])
        # re6st-registry's own parsing loop (RegistryServer.__init__)
        community_map = {}
        for x in io.StringIO(text, newline=None):
            x = x.strip()
            if x and not x.startswith('#'):
                x = x.split()
                community_map[x.pop(0)] = x
        self.assertEqual(community_map, {
            prefix: locations for _, prefix, locations
            in community.community_entries(text)})
