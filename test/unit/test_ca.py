"""The network's CA (slapos_re6st.lib.ca, the ca recipe, re6st-renew-ca):
serials, modes, idempotence, refusals, the DH group, renewal."""
import contextlib
import datetime
import hashlib
import io
import ipaddress
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import zc.buildout
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dh, rsa
from cryptography.x509.oid import NameOID

from slapos_re6st.cli import renew_ca
from slapos_re6st.lib import ca
from slapos_re6st.recipe import ca as ca_recipe
from harness.tempdir import TempDir


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
        with self.assertRaises(ValueError) as e:
            self.ensure(prefix='2001:db8:43::/48')
        self.assertIn('ipv6-prefix', str(e.exception))
        self.assertIn('2001:db8:42::/48', str(e.exception))
        with self.assertRaises(ValueError) as e:
            self.ensure(key_size=4096)
        self.assertIn('key-size', str(e.exception))

    def test_lost_key_is_not_replaced(self):
        self.ensure()
        os.remove(self.path('ca', 'ca.key'))
        with self.assertRaises(ValueError) as e:
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
        cert = self.ensure()
        der = cert.public_bytes(serialization.Encoding.DER)
        self.assertEqual(ca.fingerprint(cert),
                         'sha256:' + hashlib.sha256(der).hexdigest())

    def test_recipe_never_returns_the_ca(self):
        options = {'key': self.path('ca', 'k'), 'cert': self.path('ca', 'c'),
                   'dh': self.path('ca', 'd'), 'key-size': '2048',
                   'ipv6-prefix': '2001:db8:42::/48'}
        recipe = ca_recipe.Recipe(None, 'ca', options)
        self.assertTrue(options['fingerprint'].startswith('sha256:'))
        # made by buildout: nothing written yet (a run may make it and
        # install nothing); the CA whose fingerprint it set comes with
        # install, once
        self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(recipe.install(), [])
        self.assertEqual(recipe.update(), [])
        self.assertEqual(ca.fingerprint(ca.load_certificate(options['cert'])),
                         options['fingerprint'])
        self.assertEqual(stat.S_IMODE(os.stat(options['key']).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.path('ca')).st_mode),
                         0o700)
        again = dict(options)
        del again['fingerprint']
        ca_recipe.Recipe(None, 'ca', again).install()
        self.assertEqual(again['fingerprint'], options['fingerprint'])

    def test_recipe_refusals_are_user_errors(self):
        options = {'key': self.path('k'), 'cert': self.path('c'),
                   'dh': self.path('d'), 'key-size': '2048',
                   'ipv6-prefix': '2001:db8:42::/48'}
        ca_recipe.Recipe(None, 'ca', dict(options)).install()
        with self.assertRaises(zc.buildout.UserError) as e:
            ca_recipe.Recipe(None, 'ca', dict(options, **{
                'ipv6-prefix': '2001:db8:43::/48'}))
        self.assertIn('ipv6-prefix', str(e.exception))
        del options['dh']
        with self.assertRaises(zc.buildout.UserError) as e:
            ca_recipe.Recipe(None, 'ca', options)
        self.assertIn('dh', str(e.exception))


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


def make_ca(directory, prefix='2001:db8:42::/48'):
    key_path = os.path.join(directory, 'ca.key')
    cert_path = os.path.join(directory, 'ca.crt')
    cert = ca.ensure_ca(key_path, cert_path, os.path.join(directory, 'dh.pem'),
                        2048, prefix)
    return key_path, cert_path, cert


def node_certificate(ca_key_path, ca_cert):
    """A node certificate as the registry signs them."""
    ca_key = ca.load_key(ca_key_path)
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
        _, new, kept = ca.renew(key_path, cert_path, '2001:db8:43::/48',
                                now=now)
        self.assertEqual(kept, cert_path + '.20300102T030405Z.old')
        with open(kept, 'rb') as f:
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
                         stat.S_IMODE(os.stat(kept).st_mode))
        # the CA recipe now takes the new prefix, refuses the old one
        ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                     '2001:db8:43::/48')
        with self.assertRaises(ValueError):
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                         '2001:db8:42::/48')

    def test_extend_validity_only(self):
        key_path, cert_path, old = make_ca(self.dir)
        _, new, kept = ca.renew(key_path, cert_path, days=30)
        self.assertEqual(new.serial_number, old.serial_number)
        self.assertLess(new.not_valid_after_utc, old.not_valid_after_utc)
        # twice in the same second: another copy
        _, _, kept2 = ca.renew(key_path, cert_path, days=30,
                               now=new.not_valid_before_utc
                               + datetime.timedelta(minutes=5))
        self.assertNotEqual(kept, kept2)
        self.assertTrue(os.path.exists(kept))

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
                ca.renew(key_path, cert_path, **kw)
            self.assertIn(words, str(e.exception))
        with self.assertRaises(ValueError) as e:
            ca.renew(other_key, cert_path, '2001:db8:43::/48')
        self.assertIn('not the key of the CA', str(e.exception))
        with open(cert_path, 'rb') as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(sorted(os.listdir(self.dir)),
                         sorted(['ca.crt', 'ca.key', 'dh.pem',
                                 os.path.basename(other)]))

    def test_main(self):
        key_path, cert_path, _ = make_ca(self.dir)

        def run(prefix):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(err):
                code = renew_ca.main(['--key', key_path, '--cert', cert_path,
                                      '--prefix', prefix])
            return code, out.getvalue(), err.getvalue()
        code, out, _ = run('2001:db8:43::/48')
        self.assertEqual(code, 0)
        self.assertIn('2001:db8:42::/48 -> 2001:db8:43::/48', out)
        self.assertIn('request the instance with ipv6-prefix'
                      ' 2001:db8:43::/48', out)
        code, _, err = run('x')
        self.assertEqual(code, 1)
        self.assertIn('re6st-renew-ca:', err)

    def test_refusal_of_another_prefix_explains_the_renewal(self):
        key_path, cert_path, _ = make_ca(self.dir)
        with self.assertRaises(ValueError) as e:
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 2048,
                         '2001:db8:43::/48', '/sr/bin/re6st-renew-ca')
        message = str(e.exception)
        for words in ('request ipv6-prefix 2001:db8:42::/48 to keep it',
                      '/sr/bin/re6st-renew-ca --key %s --cert %s --prefix'
                      ' 2001:db8:43::/48' % (key_path, cert_path),
                      'same key', 'new serial'):
            self.assertIn(words, message)
        with self.assertRaises(ValueError) as e:
            ca.ensure_ca(key_path, cert_path, self.path('dh.pem'), 4096,
                         '2001:db8:42::/48', '/sr/bin/re6st-renew-ca')
        self.assertIn('request key-size 2048', str(e.exception))
        self.assertIn('keeps it', str(e.exception))
