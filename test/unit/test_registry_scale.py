"""The adapter's ScaledRegistryServer (lib.re6st_adapter) against re6st's
own RegistryServer (re6stnet 0.642, both real, in this process): the same
random sequences of token additions and deletions, certificate requests
(by token and anonymous, in communities), renewals, revocations (by
prefix and by serial), clock moves with the clean-ups (onTimeout) they
make due, restarts, restores and renewals of the CA while stopped, and
changes of the database by another process while stopped; after every
step their answers, their next clean-up time and their whole databases
(rows and rowids) must be equal.

Stand-ins: the clock (time.time in both modules, and the times OpenSSL
writes in the certificates they issue) is the test's; babeld and the
registry's main node are absent (no RPC here needs them)."""
import argparse
import binascii
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import types
import warnings

from OpenSSL import crypto
from re6st import registry, utils

from slapos_re6st.backup.restore import restore_database
from slapos_re6st.lib import ca, re6st_adapter
from support import PREFIX, TOP
from harness.tempdir import TempDir

DAY = 86400
KEYS = [ca.make_key(1024) for _ in range(3)]
CSRS = [ca.certificate_request(key, 'node %s' % i)
        for i, key in enumerate(KEYS)]


class Clock:

    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now


def clocked_crypto(clock):
    """OpenSSL.crypto, but X509's notBefore/notAfter set from `clock`."""
    class X509(crypto.X509):

        def _at(self, seconds):
            return time.strftime('%Y%m%d%H%M%SZ', time.gmtime(
                int(clock.now) + seconds)).encode()

        def gmtime_adj_notBefore(self, seconds):
            self.set_notBefore(self._at(seconds))

        def gmtime_adj_notAfter(self, seconds):
            self.set_notAfter(self._at(seconds))
    class Module:
        def __getattr__(self, name):
            return getattr(crypto, name)
    module = Module()
    module.X509 = X509
    return module


def dump(path):
    """Everything re6st stores, row by row (rowids included: they decide
    which free prefix SQLite's sort gives first)."""
    with sqlite3.connect(path) as db:
        tables = {table: db.execute('SELECT rowid, * FROM %s ORDER BY rowid'
                                    % table).fetchall()
                  for table in ('config', 'token', 'cert', 'crl')}
    # (a registry with no node yet draws a new babel HMAC key at start)
    tables['config'] = [row if not row[1].startswith('babel_hmac')
                        else row[:2] for row in tables['config']]
    return tables


def outcome(call, *args):
    """What a call gives: its value, or its exception's type."""
    try:
        return 'ok', call(*args)
    except SystemExit as e:
        return 'exit', e.code
    except Exception as e:
        return 'raised', type(e).__name__


class Pair:
    """re6st's server and the adapter's, each on its own copy of the same
    database, driven alike."""

    def __init__(self, test, config):
        self.test = test
        self.config = config
        self.steps = 0
        self.seen = set()   # what the steps did, to see they did it
        self.original = self.scaled = None

    def config_for(self, which):
        return argparse.Namespace(**dict(
            vars(self.config), db=self.test.path(which + '.db')))

    def start(self):
        """Both servers started; if re6st's refuses to start (its main
        node's certificate past its end and the grace period), the
        adapter's must too, and the pair is `dead`."""
        self.dead = False
        started = outcome(registry.RegistryServer, self.config_for('original'))
        scaled = outcome(self.test.scaled_class,
                         self.config_for('scaled'))
        self.test.assertEqual(started[0], scaled[0])
        if started[0] != 'ok':
            self.test.assertEqual(started, scaled)
            self.seen.add(('start', started[0]))
            self.dead = True
            return
        self.original, self.scaled = started[1], scaled[1]
        for server in self.servers():
            # no fsync: the test's time is not the disk's
            server.db.execute('PRAGMA synchronous=OFF')
        for server in self.servers():
            server.cert_duration = self.test.cert_duration
            server.geoip_db = 'stand-in'  # locations are given
        self.check('start')

    def stop(self):
        if self.dead:
            return
        for server in self.servers():
            server.close()
        self.original = self.scaled = None

    def servers(self):
        return self.original, self.scaled

    def both(self, step, name, *args, seed=None):
        results = []
        for server in self.servers():
            if seed is not None:
                random.seed(seed)  # addToken(token=None) draws from it
            results.append(outcome(getattr(server, name), *args))
        self.test.assertEqual(results[0], results[1], step)
        self.seen.add((name, results[0][0]))
        return results[0]

    def due(self, step):
        """The main loop's clean-up, as re6st-registry runs it: when its
        timeout is past."""
        timeouts = [s.timeout for s in self.servers()]
        self.test.assertEqual(timeouts[0], timeouts[1], step)
        if timeouts[0] and timeouts[0] <= self.test.clock.now:
            before = self.counts()
            self.both(step + ' onTimeout', 'onTimeout')
            after = self.counts()
            if after[0] < before[0]:
                self.seen.add('expired')
            if after[1] < before[1]:
                self.seen.add('merged')

    def counts(self):
        """(certificates, rows) in re6st's database."""
        with sqlite3.connect(self.config_for('original').db) as db:
            return db.execute("SELECT count(cert), count(*) FROM cert"
                              ).fetchone()

    def check(self, step):
        self.test.assertEqual(self.original.timeout, self.scaled.timeout,
                              step)
        self.test.assertEqual(dump(self.config_for('original').db),
                              dump(self.config_for('scaled').db), step)


class TestScaledRegistryServer(TempDir):

    cert_duration = 40 * DAY
    scaled_class = re6st_adapter.ScaledRegistryServer

    def setUp(self):
        super().setUp()
        self.clock = Clock(1_800_000_000.0)
        # re6st 0.642 reads CSRs with pyOpenSSL, which warns each time
        caught = warnings.catch_warnings()
        caught.__enter__()
        self.addCleanup(caught.__exit__, None, None, None)
        warnings.filterwarnings('ignore', 'CSR support',
                                DeprecationWarning)
        saved = [(registry, 'time', registry.time),
                 (re6st_adapter, 'time', re6st_adapter.time),
                 (registry, 'crypto', registry.crypto)]
        registry.time = re6st_adapter.time = types.SimpleNamespace(
            time=self.clock.time)
        registry.crypto = clocked_crypto(self.clock)
        self.addCleanup(lambda: [setattr(m, n, v) for m, n, v in saved])
        os.makedirs(self.path('run'))
        ca.ensure_ca(self.path('ca.key'), self.path('ca.crt'),
                     self.path('dh.pem'), 1024, PREFIX)

    def config(self, prefix_length, community=None, anonymous=0):
        return argparse.Namespace(
            db=None, ca=self.path('ca.crt'), key=self.path('ca.key'),
            dh=self.path('dh.pem'), run=self.path('run'),
            community=community, same_country=None, ipv4=None,
            prefix_length=prefix_length, anonymous_prefix_length=anonymous,
            grace_period=10 * DAY, client_count=10, max_clients=20,
            encrypt=False, hello=15, min_protocol=7, tunnel_refresh=300,
            mailhost=None, authorized_origin=['127.0.0.1', '::1'])

    def pair(self, config):
        """Both servers on copies of one new database (one HMAC key)."""
        config.db = self.path('original.db')
        registry.RegistryServer(config).close()
        shutil.copy(self.path('original.db'), self.path('scaled.db'))
        pair = Pair(self, config)
        pair.start()
        return pair

    def community_file(self):
        path = self.path('community')
        with open(path, 'w') as f:
            f.write('# communities\n0 FR DE\n10 @EU\n11 *\n')
        return path

    def cns(self, pair):
        """Prefixes with a certificate (as bits: how the nodes name
        themselves in RPCs)."""
        with sqlite3.connect(pair.config_for('original').db) as db:
            return [p for p, in db.execute(
                "SELECT prefix FROM cert WHERE cert IS NOT NULL"
                " AND cert != 'reserved' ORDER BY prefix")]

    def serials(self, pair):
        with sqlite3.connect(pair.config_for('original').db) as db:
            return [str(crypto.load_certificate(crypto.FILETYPE_PEM, c)
                        .get_serial_number()) for c, in db.execute(
                "SELECT cert FROM cert WHERE cert IS NOT NULL"
                " AND cert != 'reserved' ORDER BY prefix")]

    def run_sequence(self, pair, rng, steps, emails=8, external=True,
                     keep_main=0.97):
        tokens = []
        for n in range(steps):
            if pair.dead:
                return
            step = 'step %s' % n
            op = rng.random()
            if op < 0.25:
                token = 'tok%s' % n if rng.random() < 0.9 else None
                email = 'node%s@x' % rng.randrange(emails)
                out = pair.both(step + ' addToken', 'addToken', email, token,
                                seed=n)
                tokens.append(token or out[1])
            elif op < 0.5:
                if tokens and rng.random() < 0.85:
                    token = rng.choice(tokens)
                else:
                    token = None if rng.random() < 0.5 else 'unknown'
                location = rng.choice(('', 'FR,EU', 'US,NA', 'IT,EU', '*,*'))
                pair.both(step + ' requestCertificate', 'requestCertificate',
                          token, rng.choice(CSRS), location)
            elif op < 0.58 and tokens:
                pair.both(step + ' deleteToken', 'deleteToken',
                          rng.choice(tokens))
            elif op < 0.7:
                cns = self.cns(pair)
                if cns:
                    pair.both(step + ' renewCertificate', 'renewCertificate',
                              cns[0] if rng.random() < 0.3 else rng.choice(cns))
            elif op < 0.76:
                cns = self.cns(pair)
                if cns and rng.random() < 0.7:
                    cn = rng.choice(cns)
                    pair.both(step + ' revoke', 'revoke',
                              '%u/%u' % (int(cn, 2), len(cn)))
                elif cns:
                    serial = rng.choice(self.serials(pair) + ['999999'])
                    pair.both(step + ' revoke serial', 'revoke', serial)
            elif op < 0.8:
                pair.both(step + ' getNodePrefix', 'getNodePrefix',
                          'node%s@x' % rng.randrange(emails))
            elif op < 0.81:
                pair.stop()
                pair.start()
            elif op < 0.815 and external:
                self.external_change(pair, rng, step)
            else:
                cns = self.cns(pair)
                if cns and rng.random() < keep_main:  # the main node lives on
                    pair.both(step + ' renew main', 'renewCertificate',
                              cns[0])
                self.clock.now += rng.choice((1, 60, 3600, DAY, 5 * DAY,
                                              15 * DAY))
            if not pair.dead:
                pair.due(step)
                pair.check(step)

    def external_change(self, pair, rng, step):
        """While both are stopped, another process (re6st's own server)
        changes both databases alike."""
        pair.stop()
        for which in 'original', 'scaled':
            started = outcome(registry.RegistryServer,
                              pair.config_for(which))
            if started[0] != 'ok':  # its main node is past its end
                continue
            server = started[1]
            server.cert_duration = self.cert_duration
            server.db.execute('PRAGMA synchronous=OFF')
            random.seed(step)
            for i in range(3):
                server.addToken('other@x', 'ext%s%s' % (step, i))
                server.requestCertificate('ext%s%s' % (step, i), CSRS[i], '')
            server.close()
        pair.start()
        return

    def test_small_networks(self):
        """Prefixes of 4 bits (a network that fills up, expiries, merges),
        with and without communities and anonymous nodes."""
        seen = set()
        for seed in range(6):
            with self.subTest(seed=seed):
                for name in 'original.db', 'scaled.db':
                    if os.path.exists(self.path(name)):
                        os.remove(self.path(name))
                community = self.community_file() if seed % 2 else None
                pair = self.pair(self.config(4, community,
                                             anonymous=5 if seed % 3 else 0))
                try:
                    self.run_sequence(pair, random.Random(seed), 300)
                finally:
                    pair.stop()
                seen |= pair.seen
        # what the sequences went through
        for what in ('expired', 'merged', ('requestCertificate', 'ok'),
                     ('requestCertificate', 'raised'), ('revoke', 'ok'),
                     ('renewCertificate', 'ok'), ('getNodePrefix', 'ok')):
            self.assertIn(what, seen)


    def test_the_main_node_end(self):
        """Past the end of its main node's certificate plus the grace
        period, both exit in their clean-up and refuse to start again,
        their databases untouched."""
        pair = self.pair(self.config(4))
        for n in range(3):
            pair.both('add', 'addToken', 'a@x', 'main%s' % n)
            pair.both('request', 'requestCertificate', 'main%s' % n, CSRS[n],
                      '*,*')
            pair.due('request')
            self.clock.now += DAY
        self.clock.now += self.cert_duration + 10 * DAY
        pair.due('past the end')
        self.assertIn(('onTimeout', 'exit'), pair.seen)
        pair.check('past the end')
        pair.stop()
        pair.start()
        self.assertTrue(pair.dead)
        self.assertIn(('start', 'exit'), pair.seen)

    def test_restore_and_renewed_ca_while_stopped(self):
        pair = self.pair(self.config(5))
        rng = random.Random(42)
        try:
            self.run_sequence(pair, rng, 150, external=False)
            pair.stop()
            for which in 'original', 'scaled':
                shutil.copy(self.path(which + '.db'),
                            self.path(which + '.backup'))
            pair.start()
            self.run_sequence(pair, rng, 100, external=False)
            pair.stop()
            # a restore: the older database back, the registry restarted
            for which in 'original', 'scaled':
                shutil.copy(self.path(which + '.backup'),
                            self.path(which + '.db'))
            # re6st-renew-ca: a new CA certificate, the same key
            ca.renew(self.path('ca.key'), self.path('ca.crt'), days=3650)
            pair.start()
            self.run_sequence(pair, rng, 150, external=False)
            # re6st-restore's way: the backup written over the database of
            # the running registries (sqlite's backup API), which go on
            for which in 'original', 'scaled':
                restore_database(self.path(which + '.backup'),
                                 self.path(which + '.db'))
            pair.check('restored under the running registries')
            self.run_sequence(pair, rng, 150, external=False)
        finally:
            pair.stop()

    def test_a_larger_network(self):
        """1000 nodes (filled by re6st's own server), then random steps
        with both; the subject serials freed by expiries are reused."""
        config = self.config(12)
        config.db = self.path('original.db')
        server = registry.RegistryServer(config)
        server.cert_duration = self.cert_duration
        server.db.execute('PRAGMA synchronous=OFF')
        taken = set()

        def next_serial():
            # the fill's shortcut (as tools/bench.py's): the same numbers
            serial = 0
            while serial in taken:
                serial += 1
            taken.add(serial)
            return serial
        server.getSubjectSerial = next_serial
        for i in range(1000):
            server.addToken('fill%s@x' % (i % 50), 'fill%s' % i)
            server.requestCertificate('fill%s' % i, CSRS[i % 3], '')
            self.clock.now += 3000
        server.close()
        shutil.copy(self.path('original.db'), self.path('scaled.db'))
        pair = Pair(self, config)
        pair.start()
        try:
            self.assertEqual(pair.original.getSubjectSerial(),
                             pair.scaled.getSubjectSerial())
            self.run_sequence(pair, random.Random(7), 80, emails=50,
                              external=False)
            self.assertFalse(pair.dead)
            self.assertIn('expired', pair.seen)
            self.assertIn('merged', pair.seen)
            self.assertEqual(pair.original.getSubjectSerial(),
                             pair.scaled.getSubjectSerial())
        finally:
            pair.stop()


class TestUpstreamPatch(TestScaledRegistryServer):
    """docs/re6stnet-0.642-scale.patch is the adapter's changes now
    (tools/scale_patch.py), applies with `patch -p1` to re6stnet 0.642's
    tree (the installed one), and the patched RegistryServer gives re6st's
    own results, as the adapter's does."""

    def setUp(self):
        super().setUp()
        from tools import scale_patch
        self.assertEqual(subprocess.run(
            [sys.executable, '-m', 'tools.scale_patch', '--check'],
            cwd=TOP).returncode, 0, 'run python -m tools.scale_patch')
        tree = self.path('re6stnet')
        shutil.copytree(os.path.dirname(registry.__file__),
                        os.path.join(tree, 're6st'))
        with open(scale_patch.PATCH) as f:
            subprocess.run(['patch', '-p1', '-s'], stdin=f, cwd=tree,
                           check=True)
        # imported as another package, next to the real re6st
        os.rename(os.path.join(tree, 're6st'), os.path.join(tree, 'patched'))
        import importlib
        import importlib.util
        package = os.path.join(tree, 'patched')
        spec = importlib.util.spec_from_file_location(
            'patched', os.path.join(package, '__init__.py'),
            submodule_search_locations=[package])
        sys.modules['patched'] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules['patched'])
        module = importlib.import_module('patched.registry')
        self.addCleanup(lambda: [sys.modules.pop(name) for name in
                                 list(sys.modules) if name == 'patched'
                                 or name.startswith('patched.')])
        module.time = types.SimpleNamespace(time=self.clock.time)
        module.crypto = clocked_crypto(self.clock)
        self.scaled_class = module.RegistryServer
        self.assertTrue(hasattr(self.scaled_class, '_load'))  # patched

    def test_small_networks(self):
        super().test_small_networks()

    # the adapter's own tests, not repeated on the patch: the same code
    # (None: no test of that name in this class; a skip fails under CI)
    test_a_larger_network = None
    test_restore_and_renewed_ca_while_stopped = None
    test_the_main_node_end = None


class TestCertificateFields(TempDir):
    """What the adapter reads from a certificate without OpenSSL at start
    (re6st_adapter.cert_fields) is what re6st reads with it, or it leaves
    the certificate to OpenSSL."""

    def certificate(self, serial, not_after, string_type=None):
        from cryptography import x509 as cx509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID
        import datetime
        names = [cx509.NameAttribute(NameOID.COMMON_NAME, '1/4')]
        if serial is not None:
            kw = {'_type': string_type} if string_type else {}
            names.insert(0, cx509.NameAttribute(NameOID.SERIAL_NUMBER,
                                                serial, **kw))
        key = KEYS[0]
        start = datetime.datetime(2020, 1, 1)
        return (cx509.CertificateBuilder()
                .subject_name(cx509.Name(names))
                .issuer_name(cx509.Name(names[-1:]))
                .public_key(key.public_key()).serial_number(7)
                .not_valid_before(start).not_valid_after(not_after)
                .sign(key, hashes.SHA256())
                .public_bytes(ca.serialization.Encoding.PEM))

    def re6st_fields(self, pem):
        from re6st import x509
        cert = crypto.load_certificate(crypto.FILETYPE_PEM, pem)
        return cert.get_subject().serialNumber, x509.notAfter(cert)

    def test_the_same_fields(self):
        import datetime
        from cryptography.x509.name import _ASN1Type
        cases = [
            ('12', datetime.datetime(2030, 5, 6, 7, 8, 9), None),
            (None, datetime.datetime(2030, 5, 6, 7, 8, 9), None),
            ('', datetime.datetime(2049, 12, 31, 23, 59, 59), None),
            ('3', datetime.datetime(2051, 1, 1), None),  # GeneralizedTime
            ('ünï', datetime.datetime(2030, 1, 1), _ASN1Type.UTF8String),
        ]
        for serial, not_after, string_type in cases:
            pem = self.certificate(serial, not_after, string_type)
            self.assertEqual(re6st_adapter.cert_fields(pem),
                             self.re6st_fields(pem), serial)
        # another string type: left to OpenSSL
        pem = self.certificate('5', datetime.datetime(2030, 1, 1),
                               _ASN1Type.BMPString)
        with self.assertRaises(re6st_adapter.Unusual):
            re6st_adapter.cert_fields(pem)

    def test_anything_else_left_to_openssl(self):
        import datetime
        pem = self.certificate('1', datetime.datetime(2030, 1, 1))
        lines = pem.split(b'\n')
        for other in (b'reserved', pem.replace(b'CERTIFICATE', b'X509 CRL'),
                      b'\n'.join(lines[:3] + lines[-2:])):
            with self.assertRaises((re6st_adapter.Unusual, ValueError,
                                    IndexError, binascii.Error)):
                re6st_adapter.cert_fields(other)
