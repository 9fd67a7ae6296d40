"""Unit tests of the instance parameters, without SlapOS: validation of
each parameter and of the rules between them, the registry configuration
they render (read back by re6st-registry's own parser), the secret that
never becomes an option value, and re6st-renew-ca."""
import configparser
import datetime
import io
import json
import os
import re
import shlex
import shutil
import stat
import sys
import tempfile
import time
import unittest
from unittest import mock

import zc.buildout
import zc.buildout.buildout
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, TOP)

from slapos_re6st import (  # noqa: E402
    ca, parameters, registry, renew, slapconfiguration)

SCHEMA_PATH = os.path.join(TOP, 'instance-input-schema.json')
SCHEMA = parameters.load_schema(SCHEMA_PATH)
PASSWORD = 'pa ss"w\'ord#$1-%(x)s-${y}'


# -- A GeoIP2 country database for the tests: the MaxMind DB format
# (https://maxmind.github.io/MaxMind-DB/) with a search tree of one node
# that knows no address.  re6st-registry then locates every node at '*'
# (geoip2 raises AddressNotFoundError, which re6st catches), but runs with
# same-country and communities, as with a real database (used by
# test_parameters_slapos too).

def _mmdb_control(kind, size):
    extra = b''
    if size >= 29:
        assert size < 285
        size, extra = 29, bytes([size - 29])
    if kind <= 7:
        return bytes([kind << 5 | size]) + extra
    return bytes([size, kind - 7]) + extra


def _mmdb_encode(value):
    """MaxMind DB data: str, dict, list, or (type number, unsigned int)."""
    if isinstance(value, str):
        data = value.encode()
        return _mmdb_control(2, len(data)) + data
    if isinstance(value, dict):
        return _mmdb_control(7, len(value)) + b''.join(
            _mmdb_encode(k) + _mmdb_encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _mmdb_control(11, len(value)) + b''.join(
            map(_mmdb_encode, value))
    kind, number = value  # 5: uint16, 6: uint32, 9: uint64
    data = number.to_bytes((number.bit_length() + 7) // 8, 'big')
    return _mmdb_control(kind, len(data)) + data


def empty_country_mmdb(path, database_type='GeoLite2-Country'):
    node_count = 1
    tree = node_count.to_bytes(3, 'big') * 2  # both branches: no data
    metadata = {
        'binary_format_major_version': (5, 2),
        'binary_format_minor_version': (5, 0),
        'build_epoch': (9, int(time.time())),
        'database_type': database_type,
        'description': {'en': 'empty test database'},
        'ip_version': (5, 6),
        'languages': ['en'],
        'node_count': (6, node_count),
        'record_size': (5, 24),
    }
    with open(path, 'wb') as f:
        f.write(tree + bytes(16) + b'\xab\xcd\xefMaxMind.com'
                + _mmdb_encode(metadata))



def re6st_registry_config(path):
    """The configuration re6st-registry makes of `re6st-registry @path`:
    its own parser and its own checks (min-protocol range, ipv4), stopped
    just before it would log or start anything.  SystemExit if it refuses
    the file."""
    from re6st.cli import registry as cli
    started = []

    class Started(Exception):
        pass

    def server(config):
        started.append(config)
        raise Started

    with mock.patch.object(sys, 'argv', ['re6st-registry', '@' + path]), \
            mock.patch.object(cli.utils, 'setupLog', lambda *a, **kw: None), \
            mock.patch.object(cli.registry, 'RegistryServer', server):
        try:
            cli.main()
        except Started:
            pass
    return started[0]


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


class TempDir(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.addCleanup(slapconfiguration._secrets.clear)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def mmdb(self, database_type='GeoLite2-Country'):
        """A file for geoip2-mmdb."""
        path = self.path('%s.mmdb' % database_type)
        empty_country_mmdb(path, database_type)
        return path


class TestSchema(unittest.TestCase):

    def test_every_property_has_title_description_type_default(self):
        for name, prop in SCHEMA['properties'].items():
            for key in 'title', 'description', 'type', 'default':
                self.assertIn(key, prop, name)

    def test_defaults(self):
        values = parameters.resolve({}, SCHEMA, 9200)
        self.assertEqual(values, {
            'ipv6-prefix': '2001:db8:42::/48', 'prefix-length': 16,
            'anonymous-prefix-length': 0, 'key-size': 2048,
            'forward-ipv4': '', 'forward-port': 9201, 'mailhost': '',
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
        self.assertEqual(parameters.protocol_range(),
                         (version.min_protocol, version.protocol))


class TestValidation(TempDir):

    def problems(self, **params):
        return parameters.problems(params, SCHEMA, 9200)

    def assertValid(self, **params):
        self.assertEqual(self.problems(**params), [])
        return parameters.resolve(params, SCHEMA, 9200)

    def assertProblem(self, params, *words, count=1):
        found = self.problems(**params)
        self.assertEqual(len(found), count, found)
        for word in words:
            self.assertIn(word, found[0])
        for sentence in found:
            self.assertTrue(sentence.endswith('.'), sentence)
        with self.assertRaises(ValueError):
            parameters.resolve(params, SCHEMA, 9200)
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
        self.assertProblem({'anonymous-prefix-length': '8'},
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

    def test_smtp_starttls_is_a_boolean(self):
        self.assertProblem({'mailhost': 'smtp.example.com',
                            'smtp-starttls': 'yes'},
                           "'smtp-starttls'", 'JSON boolean')

    def test_ipv4_net(self):
        for value in '', '10.42.0.0/16 24', '192.168.0.0/24 32', '0.0.0.0/0 8':
            self.assertValid(**{'ipv4-net': value})
        self.assertEqual(parameters.ipv4_network('10.42.0.0/16 24')[1], 24)
        for value, words in (
                ('10.42.0.0/16', ('"IP/N PLEN"',)),
                ('10.42.0.1/16 24', ('host bits',)),
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
        self.assertProblem({'backup-period': '3600'}, "'backup-period'",
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

    def test_integral_numbers_become_integer_options(self):
        # JSON Schema's integers include 7200.0: the recipes read ints
        options = {'parameters': json.dumps({'backup-period': 7200.0,
                                             'prefix-length': 20.0}),
                   'schema': SCHEMA_PATH, 'registry-port': '9200'}
        parameters.Recipe(fake_buildout(self.dir), 'parameters', options)
        self.assertEqual(options['backup-period'], '7200')
        self.assertEqual(options['prefix-length'], '20')

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

    def problems(self, text, **params):
        params.setdefault('geoip2-mmdb', self.mmdb())
        return parameters.problems(dict(community=text, **params), SCHEMA,
                                   9200)

    def test_valid(self):
        for text in ('0 *', '000 *\n001 @AS AU\n010 FR DE IT\n',
                     '# comment\n\n  1\t*  \r\n01 FR\r\n', '0 * FR'):
            self.assertEqual(self.problems(text), [], text)
        # a community naming only * needs no GeoIP2 database
        self.assertEqual(parameters.problems(
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
        found = parameters.problems(
            {'ipv6-prefix': '2001:db8::/112', 'prefix-length': 14,
             'community': '000 *'}, SCHEMA, 9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn("'prefix-length' is 14", found[0])
        self.assertIn('3 of which the longest community prefix takes',
                      found[0])
        self.assertIn('at most 13', found[0])

    def test_locations_need_a_geoip2_database(self):
        found = parameters.problems({'community': '0 *\n1 FR @EU'}, SCHEMA,
                                    9200)
        self.assertEqual(len(found), 1, found)
        self.assertIn('@EU, FR', found[0])
        self.assertIn("'geoip2-mmdb'", found[0])

    def test_re6st_reads_it_the_same_way(self):
        text = '# c\n\n000 *\n001 @AS AU\n\t010  FR DE IT \n'
        self.assertEqual(parameters.community_entries(text), [
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
            in parameters.community_entries(text)})


def fake_buildout(directory):
    return {'buildout': {'directory': directory}}


class Instance(TempDir):
    """The recipes of the instance profile, wired as
    instance-re6st-registry.cfg.in wires them."""

    def run_recipes(self, request, buildout=None):
        """Options of [slap-configuration] (its `parameters`), [parameters]
        and [registry-config] for `request`; the registry-config recipe
        installed."""
        buildout = buildout or fake_buildout(self.dir)
        shown, secrets = slapconfiguration.hide_secrets(request)
        slapconfiguration.remember_secrets(buildout, secrets)
        slap = {'parameters': json.dumps(shown, sort_keys=True)}
        params = {'parameters': slap['parameters'], 'schema': SCHEMA_PATH,
                  'registry-port': '9200'}
        parameters.Recipe(buildout, 'parameters', params)
        for name in 'etc', 'srv', 'log', 'run':
            os.makedirs(self.path(name), exist_ok=True)
        sections = {
            'parameters': params,
            'registry': {'ipv4': '10.0.0.1', 'port': '9200'},
            'directory': {'etc': self.path('etc'), 'db': self.path('srv'),
                          'log': self.path('log'), 'run': self.path('run')},
            'ca': {'cert': self.path('ca.crt'), 'key': self.path('ca.key'),
                   'dh': self.path('dh.pem'), 'fingerprint': 'sha256:00ff'},
        }
        config = {k: substitute(v, sections) for k, v in
                  profile_section('registry-config').items()
                  if k != 'recipe'}
        recipe = registry.Recipe(buildout, 'registry-config', config)
        self.installed = recipe.install()
        return slap, params, config

    def parsed(self, config):
        return re6st_registry_config(config['output'])


class TestRendering(Instance):

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
            'ipv4-net': '10.42.0.0/16 24', 'client-count': 4,
            'max-clients': 12, 'tunnel-refresh': 120, 'hello': 30,
            'min-protocol': 7, 'encrypt': True, 'same-country': ['FR', 'DE'],
            'geoip2-mmdb': mmdb, 'community': '# c\n0 *\n10 FR DE\n',
            'grace-period': 86400, 'verbose': 2})
        parsed = self.parsed(config)
        self.assertEqual(parsed.prefix_length, 20)
        self.assertEqual(parsed.anonymous_prefix_length, 24)
        self.assertEqual(parsed.mailhost, 'smtp.example.com:587')
        self.assertEqual(parsed.smtp_user, 'registry')
        self.assertEqual(parsed.smtp_pwd, PASSWORD)
        self.assertTrue(parsed.smtp_starttls)
        self.assertEqual(parsed.ipv4, ('10.42.0.0/16', 24))
        self.assertEqual(parsed.client_count, 4)
        self.assertEqual(parsed.max_clients, 12)
        self.assertEqual(parsed.tunnel_refresh, 120)
        self.assertEqual(parsed.hello, 30)
        self.assertEqual(parsed.min_protocol, 7)
        self.assertTrue(parsed.encrypt)
        self.assertEqual(parsed.same_country, ['FR', 'DE'])
        self.assertEqual(parsed.grace_period, 86400)
        self.assertEqual(parsed.verbose, 2)
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

    def test_mailbox_file(self):
        mbox = self.path('srv', 'tokens.mbox')
        _, _, config = self.run_recipes({'mailhost': mbox})
        self.assertEqual(self.parsed(config).mailhost, mbox)

    def test_one_line_per_country(self):
        _, _, config = self.run_recipes({'same-country': ['FR', 'DE', 'IT'],
                                         'geoip2-mmdb': self.mmdb()})
        with open(config['output']) as f:
            lines = [l for l in f.read().splitlines()
                     if l.startswith('same-country')]
        self.assertEqual(lines, ['same-country FR', 'same-country DE',
                                 'same-country IT'])

    def test_re6st_refuses_what_validation_refuses(self):
        """The checks re6st-registry itself makes at start, done earlier."""
        _, _, config = self.run_recipes({})
        with open(config['output'], 'a') as f:
            f.write('min-protocol 99\n')
        with mock.patch('sys.stderr', io.StringIO()), \
                self.assertRaises(SystemExit):
            self.parsed(config)

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


class TestSecret(Instance):
    """The SMTP password is never an option value, hence never in
    .installed.cfg, and never in a sentence."""

    request = {'mailhost': 'smtp.example.com:587', 'smtp-user': 'registry',
               'smtp-password': PASSWORD, 'smtp-starttls': True}

    def slap_configuration(self, request):
        """Options of the real slap-configuration recipe, the master
        answering `request` (json-in-xml)."""
        partition = mock.Mock()
        partition.getInstanceParameterDict.return_value = {
            '_': json.dumps(request), 'ip_list': [('lo', '10.0.0.1')],
            'slap_software_type': 'default', 'slave_instance_list': []}
        partition.getState.return_value = 'started'
        connection = mock.Mock()
        connection.registerComputerPartition.return_value = partition
        options = {'url': 'http://master/', 'computer': 'COMP-0',
                   'partition': 'slappart0'}
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
                         slapconfiguration.SECRET_MARKER)
        # the rest of the profile, from what slap-configuration read
        params = {'parameters': slap['parameters'], 'schema': SCHEMA_PATH,
                  'registry-port': '9200'}
        parameters.Recipe(fake_buildout(self.dir), 'parameters', params)
        _, _, config = self.run_recipes(self.request)
        sections = {'slap-configuration': slap, 'parameters': params,
                    'registry-config': config}
        for name, options in sections.items():
            for key, value in options.items():
                self.assertNotIn(PASSWORD, value, (name, key))
        recorded = self.installed_cfg(sections)
        self.assertNotIn(PASSWORD, recorded)
        self.assertNotIn(shlex.quote(PASSWORD), recorded)
        self.assertIn(slapconfiguration.SECRET_MARKER, recorded)
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
        params = {'parameters': slap['parameters'], 'schema': SCHEMA_PATH,
                  'registry-port': '9200'}
        with self.assertRaises(zc.buildout.UserError) as e:
            parameters.Recipe(fake_buildout(self.dir), 'parameters', params)
        self.assertIn("'smtp-password' is (not shown)", str(e.exception))
        self.assertNotIn(PASSWORD, str(e.exception))
        # a password on two lines is refused, without being shown either
        slap = self.slap_configuration(dict(
            self.request, **{'smtp-password': 'a\nb'}))
        params['parameters'] = slap['parameters']
        with self.assertRaises(zc.buildout.UserError) as e:
            parameters.Recipe(fake_buildout(self.dir), 'parameters', params)
        self.assertIn("'smtp-password' is (not shown)", str(e.exception))
        self.assertNotIn('a\nb', str(e.exception))

    def test_marker_without_the_secret_is_refused(self):
        shown, _ = slapconfiguration.hide_secrets(self.request)
        with self.assertRaises(zc.buildout.UserError):
            parameters.Recipe(fake_buildout(self.dir), 'parameters', {
                'parameters': json.dumps(shown), 'schema': SCHEMA_PATH,
                'registry-port': '9200'})

    def test_everything_but_empty_is_hidden(self):
        shown, secrets = slapconfiguration.hide_secrets({'smtp-password': ''})
        self.assertEqual((shown, secrets), ({'smtp-password': ''}, {}))
        self.assertEqual(slapconfiguration.hide_secrets({}), ({}, {}))
        for value in PASSWORD, 12345, None, ['x']:
            shown, secrets = slapconfiguration.hide_secrets(
                {'smtp-password': value, 'hello': 20})
            self.assertEqual(shown, {'hello': 20, 'smtp-password':
                                     slapconfiguration.SECRET_MARKER})
            self.assertEqual(secrets, {'smtp-password': value})

    def test_invalid_secret_refused_not_recorded_nor_shown(self):
        slap = self.slap_configuration(dict(self.request,
                                            **{'smtp-password': 987654}))
        self.assertNotIn('987654', json.dumps(slap))
        params = {'parameters': slap['parameters'], 'schema': SCHEMA_PATH,
                  'registry-port': '9200'}
        with self.assertRaises(zc.buildout.UserError) as e:
            parameters.Recipe(fake_buildout(self.dir), 'parameters', params)
        self.assertIn("'smtp-password' is (not shown) but must be a JSON"
                      " string", str(e.exception))
        self.assertNotIn('987654', str(e.exception))


def make_ca(directory, prefix='2001:db8:42::/48'):
    key_path = os.path.join(directory, 'ca.key')
    cert_path = os.path.join(directory, 'ca.crt')
    cert = ca.ensure_ca(key_path, cert_path, os.path.join(directory, 'dh.pem'),
                        2048, prefix)
    return key_path, cert_path, cert


def node_certificate(ca_key_path, ca_cert):
    """A node certificate as the registry signs them."""
    with open(ca_key_path, 'rb') as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, '1/16')]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(ca_key, hashes.SHA256()))


class TestRenewCA(TempDir):

    def test_new_prefix_same_key_and_name(self):
        key_path, cert_path, old = make_ca(self.dir)
        node = node_certificate(key_path, old)
        with open(cert_path, 'rb') as f:
            old_pem = f.read()
        now = datetime.datetime(2030, 1, 2, 3, 4, 5,
                                tzinfo=datetime.timezone.utc)
        _, new, backup = renew.renew(key_path, cert_path, '2001:db8:43::/48',
                                     now=now)
        self.assertEqual(backup, cert_path + '.20300102T030405Z.old')
        with open(backup, 'rb') as f:
            self.assertEqual(f.read(), old_pem)
        with open(cert_path, 'rb') as f:
            self.assertEqual(x509.load_pem_x509_certificate(f.read()), new)
        self.assertEqual(new.serial_number, 0x120010db80043)
        self.assertEqual(new.subject, old.subject)
        self.assertEqual(new.public_key().public_numbers(),
                         old.public_key().public_numbers())
        self.assertEqual(list(new.extensions), list(old.extensions))
        new.verify_directly_issued_by(new)
        # the nodes' certificates stay valid under the renewed CA
        node.verify_directly_issued_by(new)
        self.assertEqual(new.not_valid_after_utc, now + ca.VALIDITY)
        self.assertEqual(stat.S_IMODE(os.stat(cert_path).st_mode),
                         stat.S_IMODE(os.stat(backup).st_mode))
        # the CA recipe now takes the new prefix, refuses the old one
        ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                     '2001:db8:43::/48')
        with self.assertRaises(zc.buildout.UserError):
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                         '2001:db8:42::/48')

    def test_extend_validity_only(self):
        key_path, cert_path, old = make_ca(self.dir)
        _, new, backup = renew.renew(key_path, cert_path, days=30)
        self.assertEqual(new.serial_number, old.serial_number)
        self.assertLess(new.not_valid_after_utc, old.not_valid_after_utc)
        # twice in the same second: another copy
        _, _, backup2 = renew.renew(key_path, cert_path, days=30,
                                    now=new.not_valid_before_utc
                                    + datetime.timedelta(minutes=5))
        self.assertNotEqual(backup, backup2)
        self.assertTrue(os.path.exists(backup))

    def test_refusals_change_nothing(self):
        key_path, cert_path, _ = make_ca(self.dir)
        other = tempfile.mkdtemp(dir=self.dir)
        other_key, _, _ = make_ca(other)
        with open(cert_path, 'rb') as f:
            before = f.read()
        for kw, words in (
                ({'prefix': '2001:db8:43::1/48'}, 'host bits'),
                ({'prefix': 'nonsense'}, 'IPv6 network'),
                ({'days': 0}, 'at least one day')):
            with self.assertRaises(ValueError) as e:
                renew.renew(key_path, cert_path, **kw)
            self.assertIn(words, str(e.exception))
        with self.assertRaises(ValueError) as e:
            renew.renew(other_key, cert_path, '2001:db8:43::/48')
        self.assertIn('not the key of the CA', str(e.exception))
        with open(cert_path, 'rb') as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(['ca.crt', 'ca.key', 'dh.pem',
                                 os.path.basename(other)]))

    def test_main(self):
        key_path, cert_path, _ = make_ca(self.dir)
        out = io.StringIO()
        with mock.patch('sys.stdout', out):
            code = renew.main(['--key', key_path, '--cert', cert_path,
                               '--prefix', '2001:db8:43::/48'])
        self.assertEqual(code, 0)
        self.assertIn('2001:db8:42::/48 -> 2001:db8:43::/48', out.getvalue())
        self.assertIn('request the instance with ipv6-prefix'
                      ' 2001:db8:43::/48', out.getvalue())
        err = io.StringIO()
        with mock.patch('sys.stderr', err):
            code = renew.main(['--key', key_path, '--cert', cert_path,
                               '--prefix', 'x'])
        self.assertEqual(code, 1)
        self.assertIn('re6st-renew-ca:', err.getvalue())

    def test_refusal_of_another_prefix_explains_the_renewal(self):
        key_path, cert_path, _ = make_ca(self.dir)
        with self.assertRaises(zc.buildout.UserError) as e:
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                         '2001:db8:43::/48', '/sr/bin/re6st-renew-ca')
        message = str(e.exception)
        for words in ('request ipv6-prefix 2001:db8:42::/48 to keep it',
                      '/sr/bin/re6st-renew-ca --key %s --cert %s --prefix'
                      ' 2001:db8:43::/48' % (key_path, cert_path),
                      'same key', 'new serial'):
            self.assertIn(words, message)
        with self.assertRaises(zc.buildout.UserError) as e:
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 4096,
                         '2001:db8:42::/48', '/sr/bin/re6st-renew-ca')
        self.assertIn('request key-size 2048', str(e.exception))
        self.assertIn('keeps it', str(e.exception))

    def test_console_script_is_declared(self):
        with open(os.path.join(TOP, 'setup.py')) as f:
            self.assertIn("'re6st-renew-ca = slapos_re6st.renew:main'",
                          f.read())
        with open(os.path.join(TOP, 'software.cfg')) as f:
            software = configparser.RawConfigParser(
                interpolation=None, strict=False)
            software.read_file(f)
        self.assertIn('re6st-renew-ca', software['eggs']['scripts'].split())


if __name__ == '__main__':
    unittest.main()
