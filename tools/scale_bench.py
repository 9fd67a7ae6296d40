"""`make bench`'s scale figures (issue 22): re6st-registry holding 1, 1 000,
10 000 and 100 000 nodes, re6st's own program (re6stnet's re6st-registry,
unchanged) beside the release's (re6st-registry-service: the adapter,
slapos_re6st.lib.re6st_adapter), each on its own copy of the same
database, in the same run; through HAProxy with the release's forward
configuration too (lib.forward).  No SlapOS: the registry is started with
the configuration the release renders (lib.registry_config), on loopback.

The databases are filled once (then cached in --cache) by re6st's
addToken and requestCertificate, in this process, on the adapter's
ScaledRegistryServer, whose results are re6st's own
(test/unit/test_registry_scale.py): the shortcut is for filling only;
every figure is measured on both programs.  One RSA key for every node.

Every loop is bounded; a slow machine gives slow figures, never a failure.
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from slapos_re6st.backup.restore import restore_database
from slapos_re6st.backup.snapshot import copy_database
from slapos_re6st.lib import ca, files, forward, re6st_adapter, registry_config

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = '2001:db8:42::/48'
PREFIX_LENGTH = 20          # 100 000 nodes need more than 16 bits
SIZES = (1, 1000, 10000, 100000)
CLIENTS = 32
PROGRAMS = {
    # re6stnet's own command, as it is
    're6st': [sys.executable, '-c',
              'from re6st.cli.registry import main; main()'],
    # the release's, from this checkout
    'release': [sys.executable, '-c', 'import sys; sys.path[0:0] = %r;'
                ' from slapos_re6st.cli.registry import main; main()'
                % [TOP]],
}
HAPROXY = shutil.which('haproxy', path=os.pathsep.join(
    [os.environ.get('PATH', ''), '/usr/local/sbin', '/usr/sbin']))


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def options(directory, db, port):
    return {'port': port, 'ipv4': '127.0.0.1', 'db': db,
            'ca': os.path.join(directory, 'ca.crt'),
            'key': os.path.join(directory, 'ca.key'),
            'dh': os.path.join(directory, 'dh.pem'),
            'prefix-length': PREFIX_LENGTH,
            'logfile': os.path.join(os.path.dirname(db), 'registry.log'),
            'run': os.path.join(os.path.dirname(db), 'run')}


def median(values):
    return statistics.median(values) if values else None


# -- the databases, filled once --------------------------------------------------

class Cache:

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.cert = ca.ensure_ca(self.path('ca.key'), self.path('ca.crt'),
                                 self.path('dh.pem'), 2048, PREFIX)
        if not os.path.exists(self.path('node.key')):
            files.write(self.path('node.key'),
                        ca.private_pem(ca.make_key(2048)), 0o600)
        self.key = ca.load_key(self.path('node.key'))
        self.csr = ca.certificate_request(self.key, 'bench')

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def database(self, nodes):
        return self.path('registry-%s.db' % nodes)

    def fill(self, sizes):
        """registry-N.db for each N of `sizes` (made once); returns
        {N: seconds it took to fill from the previous size}."""
        took = {}
        todo = [n for n in sorted(sizes) if not os.path.exists(
            self.database(n))]
        if not todo:
            return took
        work = self.path('filling.db')
        have = 0
        for n in sorted(sizes, reverse=True):   # the biggest made yet
            if os.path.exists(self.database(n)) and n < todo[0]:
                shutil.copy(self.database(n), work)
                have = n
                break
        else:
            if os.path.exists(work):
                os.remove(work)
        os.makedirs(self.path('run'), exist_ok=True)
        config = registry_config.parse_text(registry_config.render(
            options(self.directory, work, 1)))
        server = re6st_adapter.ScaledRegistryServer(config)
        try:
            server.db.execute('PRAGMA synchronous=OFF')
            for n in todo:
                start = time.monotonic()
                log('Filling a registry with %s nodes (from %s)...'
                    % (n, have))
                for i in range(have, n):
                    token = 'benchnode%06d' % i
                    server.addToken('bench-node-%06d' % i, token)
                    if not server.requestCertificate(token, self.csr):
                        raise RuntimeError('requestCertificate refused')
                    if i % 10000 == 9999:
                        log('  %s nodes, %.0f s' % (
                            i + 1, time.monotonic() - start))
                have = n
                copy_database(work, self.database(n) + '.tmp')
                # re6st's own database has no such index: the release
                # makes it when it starts
                with sqlite3.connect(self.database(n) + '.tmp') as c:
                    c.execute('DROP INDEX IF EXISTS cert_email')
                    c.execute('VACUUM')
                os.rename(self.database(n) + '.tmp', self.database(n))
                took[n] = time.monotonic() - start
                log('  %s nodes in %.1f s' % (n, took[n]))
        finally:
            server.close()
            os.remove(work)
        return took

    def node_cert(self, db):
        """(prefix, PEM) of the last node registered in `db`."""
        with sqlite3.connect('file:%s?mode=ro' % db, uri=True) as c:
            return c.execute("SELECT prefix, cert FROM cert WHERE email"
                             " LIKE 'bench-node-%' ORDER BY email DESC"
                             " LIMIT 1").fetchone()


# -- a running registry ----------------------------------------------------------

class Registry:
    """One program on its own copy of a database, on loopback."""

    def __init__(self, cache, program, database, directory):
        self.cache = cache
        self.program = program
        self.directory = directory
        os.makedirs(os.path.join(directory, 'run'), exist_ok=True)
        self.db = os.path.join(directory, 'registry.db')
        shutil.copy(database, self.db)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%s/' % self.port
        self.config = os.path.join(directory, 'registry.conf')
        files.write(self.config, registry_config.render(
            options(cache.directory, self.db, self.port)), 0o600)
        self.process = self.haproxy = None

    def start(self):
        """Seconds from starting the program to getCa answered."""
        start = time.monotonic()
        with open(os.path.join(self.directory, 'output.log'), 'ab') as out:
            self.process = subprocess.Popen(
                PROGRAMS[self.program] + ['@' + self.config],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = start + 600
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.answers():
                return time.monotonic() - start
            time.sleep(0.01)
        raise RuntimeError('%s did not start: see %s' % (
            self.program, self.directory))

    def answers(self, url=None):
        try:
            with urllib.request.urlopen((url or self.url) + 'getCa',
                                        timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        self.stop_forward()

    def rss(self):
        with open('/proc/%s/status' % self.process.pid) as f:
            status = dict(line.split(':', 1) for line in f)
        return int(status['VmRSS'].split()[0]) / 1024

    def start_forward(self):
        port = free_port()
        config = os.path.join(self.directory, 'forward.cfg')
        files.write(config, forward.render(
            ['127.0.0.1'], port, '127.0.0.1:%s' % self.port, '127.0.0.2'))
        self.haproxy = subprocess.Popen([HAPROXY, '-f', config, '-db'],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        url = 'http://127.0.0.1:%s/' % port
        deadline = time.monotonic() + 30
        while not self.answers(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        return url

    def stop_forward(self):
        if self.haproxy and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(30)
        self.haproxy = None

    def client(self, url=None):
        from re6st.registry import RegistryClient
        return RegistryClient(url or self.url)

    def node_client(self):
        """re6st's client as the last node registered (authenticated)."""
        from re6st import x509
        from re6st.registry import RegistryClient
        prefix, pem = self.cache.node_cert(self.db)
        path = os.path.join(self.directory, 'node.crt')
        files.write(path, pem if isinstance(pem, bytes) else pem.encode())
        cert = x509.Cert(self.cache.path('ca.crt'),
                         self.cache.path('node.key'), path)
        return RegistryClient(self.url, cert), prefix


def timed(call, count, budget):
    """Latencies of `call()` run `count` times, or fewer if `budget`
    seconds are spent (at least 2)."""
    latencies = []
    end = time.monotonic() + budget
    for i in range(count):
        start = time.monotonic()
        call()
        latencies.append(time.monotonic() - start)
        if i >= 1 and time.monotonic() > end:
            break
    return latencies


class TimingLock:
    """A lock that records how long each holder held it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held = []

    def acquire(self, *args):
        got = self.lock.acquire(*args)
        if got:
            self.since = time.monotonic()
        return got

    def release(self):
        self.held.append(time.monotonic() - self.since)
        self.lock.release()

    def locked(self):
        return self.lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()


# -- the figures ---------------------------------------------------------------

class ScaleBench:

    def __init__(self, cache, sizes, budget):
        self.cache = cache
        self.sizes = sizes
        self.budget = budget
        self.rows = []      # {size, figure, unit, re6st, release}

    def add(self, size, figure, unit, values):
        row = {'nodes': size, 'figure': figure, 'unit': unit}
        row.update(values)
        self.rows.append(row)
        log('  %s nodes, %s: %s' % (size, figure, ', '.join(
            '%s %s' % (k, v) for k, v in values.items())))

    def lock_figures(self, size):
        """In this process, re6st's RegistryServer and the adapter's on
        copies of the database: how long each requestCertificate (then the
        main loop's onTimeout) holds the global lock."""
        from re6st import registry
        values = {}
        for program, cls in (('re6st', registry.RegistryServer),
                             ('release', re6st_adapter.ScaledRegistryServer)):
            directory = tempfile.mkdtemp(dir=self.cache.directory)
            try:
                db = os.path.join(directory, 'registry.db')
                shutil.copy(self.cache.database(size), db)
                os.makedirs(os.path.join(directory, 'run'))
                config = registry_config.parse_text(registry_config.render(
                    options(self.cache.directory, db, 1)))
                server = cls(config)
                try:
                    server.lock = lock = TimingLock()
                    request, cleanup = [], []
                    end = time.monotonic() + self.budget
                    for i in range(20):
                        token = 'lock%s' % i
                        server.addToken('bench-lock-%s' % i, token)
                        server.onTimeout()
                        lock.held.clear()
                        server.requestCertificate(token, self.cache.csr)
                        request += lock.held
                        lock.held.clear()
                        server.onTimeout()
                        cleanup += lock.held
                        if i >= 1 and time.monotonic() > end:
                            break
                finally:
                    server.close()
            finally:
                shutil.rmtree(directory)
            values[program] = (round(median(request) * 1000, 2),
                               round(max(request) * 1000, 2),
                               round(median(cleanup) * 1000, 2))
        for i, name in enumerate(('global lock held by requestCertificate,'
                                  ' median', 'the same, max',
                                  'global lock held by the onTimeout after'
                                  ' it, median')):
            self.add(size, name + ' (in process)', 'ms',
                     {p: v[i] for p, v in values.items()})

    def program_figures(self, size):
        values = {}
        for program in PROGRAMS:
            directory = tempfile.mkdtemp(dir=self.cache.directory)
            registry = Registry(self.cache, program,
                                self.cache.database(size), directory)
            try:
                values[program] = self.measure(registry, size)
            finally:
                registry.stop()
                shutil.rmtree(directory)
        for name in values['release']:
            self.add(size, name[0], name[1],
                     {p: values[p].get(name) for p in values})

    def measure(self, registry, size):
        out = {}
        out[('start until getCa answers', 's')] = round(registry.start(), 3)
        out[('memory (RSS) after start', 'MB')] = round(registry.rss(), 1)
        admin = registry.client()
        getca = timed(admin.getCa, 50, self.budget)
        out[('getCa latency, median', 'ms')] = round(median(getca) * 1000, 2)
        node, prefix = registry.node_client()
        node.getNetworkConfig(prefix)   # hello: a session
        config = timed(lambda: node.getNetworkConfig(prefix), 30, self.budget)
        out[('getNetworkConfig latency, median', 'ms')] = round(
            median(config) * 1000, 2)
        renew = timed(lambda: node.renewCertificate(prefix), 30, self.budget)
        out[('renewCertificate latency, median', 'ms')] = round(
            median(renew) * 1000, 2)
        n = [0]

        def add_token():
            n[0] += 1
            admin.addToken('bench-add-%s' % n[0], 'benchadd%s' % n[0])
        adds = timed(add_token, 50, self.budget)
        out[('addToken/s, one client', '/s')] = round(
            len(adds) / sum(adds), 2)

        def register():
            # the token manager's RPCs for one token: addToken, then
            # isToken until the node used it (here: once)
            n[0] += 1
            admin.addToken('bench-tm-%s' % n[0], 'benchtm%s' % n[0])
            admin.isToken('benchtm%s' % n[0])
        registrations = timed(register, 30, self.budget)
        out[('token registration (addToken + isToken)/s', '/s')] = round(
            len(registrations) / sum(registrations), 2)

        def certificate():
            n[0] += 1
            admin.addToken('bench-cert-%s' % n[0], 'benchcert%s' % n[0])
            start = time.monotonic()
            if not admin.requestCertificate('benchcert%s' % n[0],
                                            self.cache.csr):
                raise RuntimeError('requestCertificate refused')
            return time.monotonic() - start
        certs = []
        timed(lambda: certs.append(certificate()), 30, self.budget)
        out[('certificates/s, one client (requestCertificate)', '/s')] = \
            round(len(certs) / sum(certs), 2)
        out[('memory (RSS) after them', 'MB')] = round(registry.rss(), 1)
        for side in 'direct', 'through the forward':
            if side != 'direct' and not HAPROXY:
                continue
            estimate = CLIENTS * 2 * median(certs)
            if estimate > 3 * self.budget:
                # not measured: say how long it would have taken
                out[('requestCertificate p50, %s clients, %s'
                     % (CLIENTS, side), 's')] = 'not measured (%.0f s)' \
                    % estimate
                continue
            url = (registry.url if side == 'direct'
                   else registry.start_forward())
            p50, p99, rate = self.concurrent(registry, url, n)
            out[('requestCertificate p50, %s clients, %s' % (CLIENTS, side),
                 's')] = p50
            out[('requestCertificate p99, %s clients, %s' % (CLIENTS, side),
                 's')] = p99
            out[('p99 / p50, %s clients, %s' % (CLIENTS, side), 'x')] = \
                round(p99 / p50, 2)
            out[('certificates/s, %s clients, %s' % (CLIENTS, side),
                 '/s')] = rate
        registry.stop_forward()
        start = time.monotonic()
        backup = os.path.join(registry.directory, 'backup.db')
        copy_database(registry.db, backup)
        out[('backup of registry.db (snapshot.copy_database, running)',
             's')] = round(time.monotonic() - start, 3)
        start = time.monotonic()
        registry.process.terminate()
        registry.process.wait(60)
        restore_database(backup, registry.db)
        registry.start()
        out[('restore of registry.db + restart until getCa answers', 's')] \
            = round(time.monotonic() - start, 3)
        return out

    def concurrent(self, registry, url, n, per_client=2):
        """(p50, p99, certificates/s) of CLIENTS clients each requesting
        `per_client` certificates at once (tokens added before)."""
        from re6st.registry import RegistryClient
        admin = registry.client()
        tokens = []
        for i in range(CLIENTS * per_client):
            n[0] += 1
            tokens.append('benchc%s' % n[0])
            admin.addToken('bench-c-%s' % n[0], tokens[-1])
        latencies = []
        lock = threading.Lock()
        barrier = threading.Barrier(CLIENTS)

        def worker(mine):
            client = RegistryClient(url)
            barrier.wait()
            for token in mine:
                start = time.monotonic()
                client.requestCertificate(token, self.cache.csr)
                with lock:
                    latencies.append(time.monotonic() - start)
        threads = [threading.Thread(target=worker,
                                    args=(tokens[i::CLIENTS],))
                   for i in range(CLIENTS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - start
        latencies.sort()
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        return round(p50, 3), round(p99, 3), round(len(latencies) / took, 2)


def table(rows):
    lines = ['| nodes | figure | re6st 0.642 | release | release / re6st |',
             '|---|---|---|---|---|']
    for row in rows:
        a, b = row.get('re6st'), row.get('release')
        ratio = ('%.2f' % (b / a)) if isinstance(a, (int, float)) and a \
            and isinstance(b, (int, float)) else ''
        lines.append('| %s | %s (%s) | %s | %s | %s |' % (
            row['nodes'], row['figure'], row['unit'], a, b, ratio))
    return '\n'.join(lines)


def run(cache_dir, sizes, budget, output):
    cache = Cache(cache_dir)
    filled = cache.fill(sizes)
    bench = ScaleBench(cache, sizes, budget)
    for size, seconds in filled.items():
        bench.add(size, 'filling the database (once, cached)', 's',
                  {'release': round(seconds, 1)})
    for size in sizes:
        log('%s nodes...' % size)
        bench.lock_figures(size)
        bench.program_figures(size)
    results = {'date': time.strftime('%Y-%m-%d %H:%M'),
               'cpus': os.cpu_count(), 'rows': bench.rows}
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, 'w') as f:
        json.dump(results, f, indent=2)
    print(table(bench.rows))
    return bench.rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cache', default=os.path.join(
        TOP, '.work', 'bench-cache'))
    parser.add_argument('--sizes', default=','.join(map(str, SIZES)))
    parser.add_argument('--budget', type=float, default=20,
                        help='seconds a figure may take at most, each'
                        ' (at least 2 measures)')
    parser.add_argument('--output', default=os.path.join(
        TOP, 'bench', 'scale.json'))
    args = parser.parse_args()
    run(args.cache, [int(n) for n in args.sizes.split(',')], args.budget,
        args.output)


if __name__ == '__main__':
    main()
