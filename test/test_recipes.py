"""Unit tests of the recipes, without SlapOS."""
import ast
import datetime
import ipaddress
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import unittest

import zc.buildout
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from slapos_re6st import (  # noqa: E402
    ca, installed, parameters, promise, registry, slapconfiguration,
    softwaretype)

SCHEMA = parameters.load_schema(
    os.path.join(os.path.dirname(HERE), 'instance-input-schema.json'))


class TempDir(unittest.TestCase):

    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def path(self, *names):
        return os.path.join(self.dir, *names)


class TestPrefixSerial(unittest.TestCase):

    def test_known_serials(self):
        for prefix, serial in (
                ('2001:db8:42::/48', 0x120010db80042),
                ('2001:db8::/32', 0x120010db8),
                ('fd00::/8', 0x1fd),
                ('2001:db8:4242:8000::/49', int('1' + format(
                    0x20010db842428000, '064b')[:49], 2))):
            self.assertEqual(ca.prefix_serial(prefix), serial, prefix)
            self.assertEqual(ca.serial_prefix(serial),
                             ipaddress.IPv6Network(prefix))

    def test_leading_zero_bits_are_kept(self):
        # 0x0... prefixes: the leading '1' keeps their length
        self.assertEqual(ca.serial_prefix(ca.prefix_serial('::/7')),
                         ipaddress.IPv6Network('::/7'))


class TestCA(TempDir):

    def ensure(self, key_size=2048, prefix='2001:db8:42::/48'):
        return ca.ensure_ca(self.path('ca', 'ca.key'), self.path('ca', 'ca.crt'),
                            self.path('ca', 'dh.pem'), key_size, prefix)

    def test_created_once_with_safe_modes(self):
        cert = self.ensure()
        self.assertEqual(stat.S_IMODE(os.stat(self.path('ca', 'ca.key')).st_mode),
                         0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.path('ca')).st_mode) & 0o077, 0)
        self.assertEqual(cert.serial_number, 0x120010db80042)
        with open(self.path('ca', 'ca.key'), 'rb') as f:
            key = serialization.load_pem_private_key(f.read(), None)
        self.assertEqual(key.key_size, 2048)
        self.assertEqual(cert.public_key().public_numbers(),
                         key.public_key().public_numbers())
        cert.verify_directly_issued_by(cert)
        self.assertTrue(cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        self.assertGreaterEqual(lifetime, datetime.timedelta(days=3650))

    def test_second_run_changes_nothing(self):
        first = self.ensure()
        files = ('ca.key', 'ca.crt', 'dh.pem')
        before = {}
        for name in files:
            with open(self.path('ca', name), 'rb') as f:
                before[name] = f.read(), os.stat(self.path('ca', name)).st_mtime_ns
        second = self.ensure()
        self.assertEqual(ca.fingerprint(first), ca.fingerprint(second))
        for name in files:
            with open(self.path('ca', name), 'rb') as f:
                self.assertEqual(
                    (f.read(), os.stat(self.path('ca', name)).st_mtime_ns),
                    before[name], name)

    def test_other_prefix_or_key_size_refused(self):
        self.ensure()
        with self.assertRaises(zc.buildout.UserError) as e:
            self.ensure(prefix='2001:db8:43::/48')
        self.assertIn('ipv6-prefix', str(e.exception))
        self.assertIn('2001:db8:42::/48', str(e.exception))
        with self.assertRaises(zc.buildout.UserError) as e:
            self.ensure(key_size=4096)
        self.assertIn('key-size', str(e.exception))

    def test_lost_key_is_not_replaced(self):
        self.ensure()
        os.remove(self.path('ca', 'ca.key'))
        with self.assertRaises(zc.buildout.UserError) as e:
            self.ensure()
        self.assertIn('backup', str(e.exception))
        self.assertFalse(os.path.exists(self.path('ca', 'ca.key')))

    def test_missing_certificate_is_made_from_the_existing_key(self):
        first = self.ensure()
        os.remove(self.path('ca', 'ca.crt'))
        second = self.ensure()
        self.assertEqual(first.public_key().public_numbers(),
                         second.public_key().public_numbers())

    def test_fingerprint_is_sha256_of_der(self):
        import hashlib
        cert = self.ensure()
        der = cert.public_bytes(serialization.Encoding.DER)
        self.assertEqual(ca.fingerprint(cert),
                         'sha256:' + hashlib.sha256(der).hexdigest())

    def test_recipe_never_returns_the_ca(self):
        options = {'key': self.path('k'), 'cert': self.path('c'),
                   'dh': self.path('d'), 'key-size': '2048',
                   'ipv6-prefix': '2001:db8:42::/48'}
        recipe = ca.Recipe(None, 'ca', options)
        self.assertTrue(options['fingerprint'].startswith('sha256:'))
        self.assertEqual(recipe.install(), [])
        self.assertEqual(recipe.update(), [])


class TestDH(unittest.TestCase):

    def test_rfc7919_ffdhe2048(self):
        params = serialization.load_pem_parameters(ca.FFDHE2048_PEM)
        self.assertIsInstance(params, dh.DHParameters)
        numbers = params.parameter_numbers()
        self.assertEqual(numbers.g, 2)
        self.assertEqual(numbers.p.bit_length(), 2048)
        # RFC 7919: the 64 high and 64 low bits of p are all ones
        self.assertEqual(numbers.p >> 1984, 2 ** 64 - 1)
        self.assertEqual(numbers.p & (2 ** 64 - 1), 2 ** 64 - 1)

    @unittest.skipUnless(shutil.which('openssl'), 'no openssl')
    def test_same_as_openssl_named_group(self):
        out = subprocess.run(
            ['openssl', 'genpkey', '-genparam', '-algorithm', 'DH',
             '-pkeyopt', 'group:ffdhe2048'],
            check=True, capture_output=True).stdout
        self.assertEqual(out, ca.FFDHE2048_PEM)


class TestParameters(unittest.TestCase):

    def resolve(self, **params):
        return parameters.resolve(params, SCHEMA, 9200)

    def problems(self, **params):
        return parameters.problems(params, SCHEMA, 9200)

    def test_defaults_come_from_the_schema(self):
        values = self.resolve()
        self.assertEqual(values, parameters.defaults(SCHEMA))
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
        self.assertProblem({'prefix-length': '16'}, "'prefix-length'",
                           'integer')
        self.assertProblem({'key-size': 1024}, "'key-size'", '1024', '2048')
        self.assertProblem({'forward-port': 0}, "'forward-port'", 'from 1')
        self.assertProblem({'forward-port': 9200}, "'forward-port'", '9200',
                           'another port')
        self.assertProblem({'forward-ipv4': '::1'}, "'forward-ipv4'", '::1',
                           'IPv4')
        self.assertProblem({'forward-ipv4': '300.1.1.1'}, "'forward-ipv4'")
        self.assertProblem({'ipv6-prefix': 'not-a-prefix'}, "'ipv6-prefix'")
        self.assertProblem({'ipv6-prefix': '2001:db8:42::1/48'},
                           "'ipv6-prefix'", 'host bits')
        self.assertProblem({'ipv6-prefix': '2001:db8::/120',
                            'prefix-length': 16},
                           "'prefix-length'", 'at most 8')

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

    def test_recipe_refuses_before_anything(self):
        options = {'parameters': json.dumps({'key-size': 1024}),
                   'schema': os.path.join(os.path.dirname(HERE),
                                          'instance-input-schema.json'),
                   'registry-port': '9200'}
        with self.assertRaises(zc.buildout.UserError) as e:
            parameters.Recipe(None, 'parameters', options)
        self.assertIn("'key-size'", str(e.exception))
        self.assertNotIn('key-size', options)


class TestSlapConfiguration(unittest.TestCase):

    def test_json_in_xml(self):
        self.assertEqual(slapconfiguration.request_parameters(
            {'_': '{"prefix-length": 20}', 'ip_list': [],
             'full_address_list': []}), {'prefix-length': 20})
        self.assertEqual(slapconfiguration.request_parameters({'_': ''}), {})

    def test_plain_xml(self):
        self.assertEqual(slapconfiguration.request_parameters(
            {'prefix-length': '20', 'ip_list': [], 'slap_software_type': 'x'}),
            {'prefix-length': '20'})

    def test_not_an_object(self):
        for raw in ('[1]', '{', '"x"'):
            with self.assertRaises(ValueError):
                slapconfiguration.request_parameters({'_': raw})

    def test_addresses(self):
        self.assertEqual(slapconfiguration.partition_addresses(
            [('lo', '127.0.0.2'), ('lo', '::1'), ('lo', '127.0.0.1'),
             ('tap', 'fe80::1'), ('x', 'garbage')]), ('127.0.0.1', '::1'))
        self.assertEqual(slapconfiguration.partition_addresses([]), ('', ''))


class TestSoftwareType(unittest.TestCase):

    def test_default_names(self):
        for name in ('', 'default', 'RootSoftwareInstance'):
            self.assertEqual(softwaretype.parts_for(name, {'default': 'a b'}),
                             'a b')

    def test_unknown_type_is_named(self):
        with self.assertRaises(zc.buildout.UserError) as e:
            softwaretype.parts_for('kvm', {'default': 'a'})
        self.assertIn("'kvm'", str(e.exception))
        self.assertIn("'default'", str(e.exception))

    def test_optional_parts(self):
        options = {'if': '', 'parts': 'x y', 'url': 'http://:1/'}
        softwaretype.Optional(None, 'o', options)
        self.assertEqual(options['enabled-parts'], '')
        self.assertEqual(options['enabled-url'], '')
        options = {'if': '192.0.2.1', 'parts': 'x y',
                   'url': 'http://192.0.2.1:1/'}
        softwaretype.Optional(None, 'o', options)
        self.assertEqual(options['enabled-parts'], 'x y')
        self.assertEqual(options['enabled-url'], 'http://192.0.2.1:1/')
        # run again (buildout may initialise a section twice): the same
        softwaretype.Optional(None, 'o', options)
        self.assertNotIn('enabled-enabled-url', options)


class TestRegistryConfig(TempDir):

    def options(self, **kw):
        options = {k: 'v' for _, k in registry.OPTIONS}
        options.update(output=self.path('registry.conf'), **kw)
        return options

    def test_forward_source_is_never_trusted(self):
        self.assertEqual(registry.forward_source(('127.0.0.1', '::1')),
                         '127.0.0.2')
        self.assertEqual(registry.forward_source(
            ('127.0.0.1', '::1', '127.0.0.2')), '127.0.0.3')
        options = self.options(**{'authorized-origin': '127.0.0.2'})
        registry.Recipe(None, 'r', options)
        self.assertNotIn(options['forward-source'],
                         registry.ALWAYS_TRUSTED + ('127.0.0.2',))

    def test_file_rewritten_only_when_changed(self):
        options = self.options()
        recipe = registry.Recipe(None, 'r', options)
        self.assertEqual(recipe.install(), [options['output']])
        mtime = os.stat(options['output']).st_mtime_ns
        recipe.update()
        self.assertEqual(os.stat(options['output']).st_mtime_ns, mtime)
        options['port'] = '9300'
        registry.Recipe(None, 'r', options).update()
        with open(options['output']) as f:
            self.assertIn('9300', f.read())

    def test_missing_option_is_named(self):
        options = self.options()
        del options['dh']
        with self.assertRaises(zc.buildout.UserError) as e:
            registry.Recipe(None, 'r', options)
        self.assertIn('dh', str(e.exception))


class TestPromise(TempDir):

    def test_plugin_is_what_slapos_runpromises_expects(self):
        recipe = promise.Recipe.__new__(promise.Recipe)
        recipe.options = {'output': self.path('p.py')}
        recipe.arguments = ['http://[::1]:9201/', '/x/ca.crt']
        recipe.path = ['/somewhere/slapos.core.egg']
        recipe.install()
        with open(self.path('p.py')) as f:
            tree = ast.parse(f.read())
        # slapos.grid.promise.runpromises reads the first assignment
        first = next(e for e in tree.body if isinstance(e, ast.Assign))
        self.assertEqual(ast.unparse(first.targets[0]), 'sys.path[0:0]')
        self.assertEqual(ast.literal_eval(first.value),
                         ['/somewhere/slapos.core.egg'])

    def test_urls_must_end_with_slash(self):
        with self.assertRaises(zc.buildout.UserError) as e:
            promise.Recipe(None, 'p', {'urls': 'http://y/\n http://x',
                                       'ca': 'c', 'output': 'o'})
        self.assertIn("'http://x'", str(e.exception))
        self.assertNotIn("'http://y/'", str(e.exception))

    def test_registry_must_serve_this_ca(self):
        """Passes only when getCa answers with this partition's CA: not
        when another registry answers at that address, nor when none."""
        import http.server
        import threading
        cert = ca.ensure_ca(self.path('a', 'ca.key'), self.path('a', 'ca.crt'),
                            self.path('a', 'dh'), 2048, '2001:db8:42::/48')
        ca.ensure_ca(self.path('b', 'ca.key'), self.path('b', 'ca.crt'),
                     self.path('b', 'dh'), 2048, '2001:db8:42::/48')
        pem = cert.public_bytes(serialization.Encoding.PEM)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(pem)

            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = 'http://127.0.0.1:%s/' % server.server_port
        self.assertTrue(promise.registry_answers(url, self.path('a', 'ca.crt'))[0])
        ok, message = promise.registry_answers(url, self.path('b', 'ca.crt'))
        self.assertFalse(ok)
        self.assertIn('another CA', message)
        # several URLs (the registry and its forwards): each must answer
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            nobody = 'http://127.0.0.1:%s/' % s.getsockname()[1]
        ok, message = promise.registry_answers(
            '%s %s' % (url, nobody), self.path('a', 'ca.crt'))
        self.assertFalse(ok)
        self.assertIn(nobody + 'getCa failed', message)
        self.assertNotIn(url + 'getCa', message)
        server.shutdown()
        server.server_close()
        self.assertFalse(promise.registry_answers(
            'http://127.0.0.1:%s/' % server.server_port,
            self.path('a', 'ca.crt'))[0])



class TestInstalledRecord(TempDir):
    """.installed.cfg as PyPI's zc.buildout writes it (its own writers): a
    full save, then one [buildout] section appended per updated part."""

    def record(self, runs):
        import io
        import zc.buildout.buildout as bb
        parts = ['directory', 'ca', 'registry-service']
        out = io.StringIO()
        bb._save_options('buildout', {'installed_develop_eggs': '',
                                      'parts': ' '.join(parts)}, out)
        for part in parts:
            print(file=out)
            bb._save_options(part, {
                '__buildout_installed__': '/p/%s\n/p/%s.more' % (part, part),
                '__buildout_signature__': 'a-1.egg b-2.egg',
                'recipe': 'x:%s' % part, 'text': '  spaced\n\tvalue '},
                out)
        for run in range(runs):
            # what _update_installed appends, as in one instance run
            out.write('\n[buildout]\ninstalled_develop_eggs = \n')
            for i in range(len(parts)):
                order = parts[i + 1:] + parts[:i + 1]
                out.write('\n[buildout]\nparts = %s\n' % ' '.join(order))
        return out.getvalue()

    def parsed(self, text):
        import io
        import zc.buildout.configparser
        return zc.buildout.configparser.parse(io.StringIO(text), 'x')

    def test_the_same_record_in_one_section(self):
        text = self.record(runs=3)
        new = installed.compacted(text)
        self.assertEqual(self.parsed(new), self.parsed(text))
        self.assertEqual(new.count('[buildout]'), 1)
        self.assertLess(len(new), len(text))
        # nothing to do the next time, nor on a full save
        self.assertIsNone(installed.compacted(new))
        self.assertIsNone(installed.compacted(self.record(runs=0)))

    def test_the_file_is_rewritten_in_place_and_keeps_its_mode(self):
        path = self.path('.installed.cfg')
        with open(path, 'w') as f:
            f.write(self.record(runs=5))
        os.chmod(path, 0o640)
        self.assertTrue(installed.compact(path))
        self.assertFalse(installed.compact(path))
        with open(path) as f:
            self.assertEqual(self.parsed(f.read()),
                             self.parsed(self.record(runs=5)))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertFalse(installed.compact(self.path('missing.cfg')))

    def test_what_it_does_not_recognise_is_left_alone(self):
        for text in ('[ca]\nx = 1\n\n[buildout]\nparts = ca\n',
                     '[buildout]\nparts = a\n  b\n\n[buildout]\nparts = a\n',
                     ''):
            self.assertIsNone(installed.compacted(text), text)


if __name__ == '__main__':
    unittest.main()
