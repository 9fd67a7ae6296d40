"""`make bench`: figures of the release on the embedded SlapOS.

Loopback only, every loop bounded; a slow machine gives slow figures, never
a failure.  Prints a table and writes the same figures to
bench/results.json.  Each figure says what it measured, how, and how many
runs (median and spread over the runs).
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from slapos_re6st.lib import admin, ca, registry_config
from slapos_re6st.lib.client import with_secret
from slapos_re6st.lib.process import read_pidfile
from tools import embedded

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE = embedded.SOFTWARE
REGISTRY = 'bench-registry'
# The bench's own embedded SlapOS: another proxy port than `make run`'s.
PROXY_PORT = 19390
# the bench registry's public side, also on IPv4 (the attack comes from
# many addresses of 127.0.0.0/8)
FORWARD_PORT = 19201
TIMEOUT = 600



def harness_attack():
    """The tests' attack tool (test/harness/attack.py: the test egg's,
    which make bench shares), loaded by its path."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'test', 'harness', 'attack.py')
    spec = importlib.util.spec_from_file_location('harness_attack', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def log(message):
    print(message, file=sys.stderr, flush=True)


def bench_csr():
    """A certificate request as re6st-conf makes (RSA 2048), in PEM."""
    return ca.certificate_request(ca.make_key(2048), 'bench')


class Bench:

    def __init__(self, base):
        os.environ['SLAPOS_PROXY_PORT'] = str(PROXY_PORT)
        self.base = base
        self.slap = embedded.standalone(base)
        self.figures = []

    def record(self, name, unit, values, how, target=None,
               higher_is_better=False):
        figure = {
            'name': name, 'unit': unit, 'runs': len(values),
            'median': round(statistics.median(values), 3),
            'min': round(min(values), 3), 'max': round(max(values), 3),
            'how': how,
        }
        if target is not None:
            figure['target'] = target
            figure['target-is'] = 'minimum' if higher_is_better else 'maximum'
            figure['meets-target'] = (figure['median'] >= target
                                      if higher_is_better
                                      else figure['median'] <= target)
        self.figures.append(figure)
        log('  %s: %s %s (%s runs)' % (name, figure['median'], unit,
                                        len(values)))
        return figure

    def node(self, command, max_retry=0, env=None):
        """Run a `slapos node` command of the embedded SlapOS directly:
        StandaloneSlapOS's waitFor* poll its end with delays growing by 20%
        each time, which would round every figure up by as much."""
        line = self.slap._slapos_commands[command]['command'].format(
            self=self.slap, debug_args='')
        for attempt in range(max_retry + 1):
            if subprocess.run(line, shell=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env=env).returncode == 0:
                return
        raise RuntimeError('%s failed %s times' % (command, max_retry + 1))

    # -- the registry ---------------------------------------------------

    def deploy(self, params=None):
        slap = self.slap
        slap.start()
        if not os.listdir(slap.instance_directory):
            slap.format(1, embedded.IPV4, embedded.IPV6)
        slap.supply(SOFTWARE)
        slap.waitForSoftware(max_retry=2, install_all=True)
        slap.request(SOFTWARE, REGISTRY, 'default',
                     partition_parameter_kw={'_': json.dumps(params or {})})
        slap.waitForInstance(max_retry=10)
        self.registry = embedded.unwrap(slap.request(
            SOFTWARE, REGISTRY, 'default',
            partition_parameter_kw={'_': json.dumps(params or {})}
        ).getConnectionParameterDict())

    def registry_client(self):
        """re6st's client of the registry itself, with the partition's
        admin secret (its private RPCs need it)."""
        from re6st.registry import RegistryClient
        return with_secret(
            RegistryClient(self.registry['re6stry-local-url']),
            admin.read_secret(embedded.admin_secret(self.partition_path())))

    def node_count(self):
        db = os.path.join(self.partition_path(), 'srv', 're6st-registry',
                          'registry.db')
        with sqlite3.connect('file:%s?mode=ro' % db, uri=True) as c:
            return c.execute('SELECT count(*) FROM cert WHERE cert IS NOT NULL'
                             ' AND email IS NOT NULL').fetchone()[0]

    def partition_path(self):
        return os.path.join(self.slap.instance_directory, 'slappart0')

    def populate(self, nodes):
        """Bring the registry to `nodes` registered nodes, by re6st's own
        code: the first through its RPCs (addToken, requestCertificate with
        a CSR, as re6st-conf does: the registry then records its own
        prefix), the others by re6st's RegistryServer in this process, on
        the registry's database, calling the same addToken and
        requestCertificate.  Two shortcuts, neither changing what is
        stored: RegistryServer.getSubjectSerial, which scans every
        certificate to find the smallest serial not taken (what makes
        issuing O(n)), gives the same numbers from the set of serials taken;
        and this connection does not fsync (PRAGMA synchronous=OFF).  One
        RSA key for every CSR.  Returns the seconds it took."""
        csr = bench_csr()
        have = self.node_count()
        if have >= nodes:
            return 0.0
        log('Registering %s nodes (the registry has %s)...'
            % (nodes - have, have))
        start = time.monotonic()
        if not have:
            client = self.registry_client()
            client.addToken('bench-node-000000', 'benchnode000000')
            client.requestCertificate('benchnode000000', csr)
            have = 1
        server = self.registry_server()
        try:
            server.db.execute('PRAGMA synchronous=OFF')
            taken = {int(cert.get_subject().serialNumber)
                     for cert, _, _ in server.iterCert()
                     if cert.get_subject().serialNumber}
            real = server.getSubjectSerial

            def next_serial():
                serial = 0
                while serial in taken:
                    serial += 1
                taken.add(serial)
                return serial
            server.getSubjectSerial = next_serial
            for i in range(have, nodes):
                token = 'benchnode%06d' % i
                server.addToken('bench-node-%06d' % i, token)
                if not server.requestCertificate(token, csr):
                    raise RuntimeError('requestCertificate refused %s' % token)
            # the shortcut gave what re6st itself computes
            expected = next_serial()
            taken.discard(expected)
            assert real() == expected, (real(), expected)
        finally:
            server.close()
        return time.monotonic() - start

    def registry_server(self):
        """re6st's RegistryServer with the partition's configuration, as
        re6st-registry's own command line parses it."""
        from re6st import registry
        return registry.RegistryServer(registry_config.parse(os.path.join(
            self.partition_path(), 'etc', 're6st-registry.conf')))

    # -- token instances -------------------------------------------------

    def published(self, references):
        """How many of `references` show a registered token."""
        db = os.path.join(self.base, 'var', 'proxy.db')
        with sqlite3.connect('file:%s?mode=ro' % db, uri=True,
                             timeout=30) as c:
            rows = c.execute("SELECT reference, connection_xml FROM slave17"
                             " WHERE connection_xml LIKE '%ready for use%'")
            # slapproxy stores a shared instance's reference with a '_'
            ready = {reference[1:] for reference, _ in rows}
        return len(ready & set(references))

    def tokens(self, n, label):
        """Seconds from requesting n token instances at once to all of them
        registered and published; then drops them again."""
        slap = self.slap
        references = ['bench-%s-%d' % (label, i) for i in range(n)]
        start = time.monotonic()
        for reference in references:
            slap.request(SOFTWARE, reference, 'default', shared=True,
                         partition_parameter_kw={'_': '{}'})
        requested = time.monotonic() - start
        self.node('slapos-node-instance', max_retry=3)
        instance = time.monotonic() - start
        deadline = start + TIMEOUT
        while self.published(references) < n:
            if time.monotonic() > deadline:
                log('  only %s of %s published after %s s'
                    % (self.published(references), n, TIMEOUT))
                break
            time.sleep(0.2)
        total = time.monotonic() - start
        log('  %s tokens: requested in %.1f s, instance run done at %.1f s,'
            ' all published at %.1f s' % (n, requested, instance, total))
        for reference in references:
            slap.request(SOFTWARE, reference, 'default', shared=True,
                         state='destroyed')
        slap.waitForInstance(max_retry=3)
        self.wait_dropped()
        return total, requested

    def wait_dropped(self):
        db = os.path.join(self.partition_path(), 'srv', 're6st-tokens',
                          'tokens.db')
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with sqlite3.connect('file:%s?mode=ro' % db, uri=True,
                                 timeout=30) as c:
                if not c.execute('SELECT count(*) FROM token').fetchone()[0]:
                    return
            time.sleep(0.5)

    def token_figures(self, sizes, nodes, runs_1000):
        for populated in (0, nodes):
            if populated:
                seconds = self.populate(populated)
                self.record(
                    'populate the registry to %s nodes' % populated, 's',
                    [seconds], "re6st's RegistryServer in process: addToken"
                    ' + requestCertificate per node (see Bench.populate)')
            for n in sizes:
                runs = 3 if n <= 100 else runs_1000
                totals, requests = [], []
                for run in range(runs):
                    total, requested = self.tokens(
                        n, '%s-%s-%s' % (n, populated, run))
                    totals.append(total)
                    requests.append(requested)
                how = ('slap.request of %s shared instances in a loop, one'
                       ' slapos node instance, until slapproxy holds a'
                       ' "ready" status for each; %s nodes in the registry'
                       % (n, populated))
                self.record('%s token instances -> all registered and'
                            ' published (%s nodes)' % (n, populated), 's',
                            totals, how, target=30 if n == 1000 else None)
                self.record('  of which requesting them from slapproxy'
                            ' (%s, %s nodes)' % (n, populated), 's',
                            requests, 'slap.request in a loop: slapproxy'
                            ' rewrites the whole shared instance list on'
                            ' each request')
                self.record('  the rest: instance run + token manager'
                            ' (%s, %s nodes)' % (n, populated), 's',
                            [t - r for t, r in zip(totals, requests)],
                            'from the last request to all published',
                            target=30 if n == 1000 else None)

    # -- the CA: ours against the anchor release's openssl way ---------------

    def ca_figures(self, runs):
        ours, anchor = [], []
        for run in range(runs):
            tmp = tempfile.mkdtemp()
            try:
                start = time.monotonic()
                ca.ensure_ca(os.path.join(tmp, 'ca.key'),
                             os.path.join(tmp, 'ca.crt'),
                             os.path.join(tmp, 'dh.pem'), 2048,
                             '2001:db8:42::/48')
                ours.append(time.monotonic() - start)
                start = time.monotonic()
                for command in (
                        ['openssl', 'dhparam', '-out', 'dh.pem', '2048'],
                        ['openssl', 'genrsa', '-out', 'ca.key', '2048'],
                        ['openssl', 'req', '-nodes', '-new', '-x509', '-key',
                         'ca.key', '-set_serial', '0x120010db80042', '-days',
                         '3650', '-subj', '/CN=re6st CA', '-out', 'ca.crt']):
                    subprocess.run(command, cwd=tmp, check=True,
                                   capture_output=True)
                anchor.append(time.monotonic() - start)
            finally:
                shutil.rmtree(tmp)
        a = self.record('CA + DH, ours (cryptography, RFC 7919 ffdhe2048)', 's',
                        ours, 'slapos_re6st.lib.ca.ensure_ca, RSA 2048')
        b = self.record('CA + DH, anchor way (openssl dhparam/genrsa/req)', 's',
                        anchor, 'openssl dhparam 2048, genrsa 2048, req -x509'
                        ' -set_serial')
        self.record('CA + DH: anchor way / ours', 'x',
                    [y / x for x, y in zip(ours, anchor)],
                    'ratio of the runs above, pairwise')
        return a, b

    # -- deployment times ------------------------------------------------

    def supply_figure(self, runs_warm, runs_cold):
        """A full build of the release, the software destroyed first: with
        pip's cache as it is (warm after the first build), and with none
        (PIP_NO_CACHE_DIR, inherited by the pip that buildout runs)."""
        slap = self.slap
        for label, env, runs in (
                ('pip cache warm', None, runs_warm),
                ('no pip cache', dict(os.environ, PIP_NO_CACHE_DIR='1'),
                 runs_cold)):
            values = []
            for run in range(runs):
                slap.supply(SOFTWARE, state='destroyed')
                slap.waitForSoftware(max_retry=2)
                slap.supply(SOFTWARE)
                start = time.monotonic()
                self.node('slapos-node-software', env=env)
                values.append(time.monotonic() - start)
            self.record('supply: full build of the release (%s)' % label, 's',
                        values, 'slapos node software after destroying the'
                        ' software')

    def usable_figures(self, key_sizes, runs):
        """Request -> registry usable through the public forward (promises
        pass), on a fresh partition each time; supply is done."""
        slap = self.slap
        for key_size in key_sizes:
            values = []
            for run in range(runs):
                reference = 'bench-usable-%s-%s' % (key_size, run)
                params = {'_': json.dumps({'key-size': key_size})}
                self.drop_registry()
                start = time.monotonic()
                slap.request(SOFTWARE, reference, 'default',
                             partition_parameter_kw=params)
                self.node('slapos-node-instance', max_retry=10)
                values.append(time.monotonic() - start)
                slap.request(SOFTWARE, reference, 'default',
                             partition_parameter_kw=params, state='destroyed')
            self.record('request -> registry usable, key-size %s' % key_size,
                        's', values, 'slap.request then slapos node instance'
                        ' until every promise passes (getCa through the'
                        ' registry and the forward)', target=10)
        self.drop_registry()

    def drop_registry(self):
        """Destroy every registry partition (they share addresses)."""
        slap = self.slap
        from slapos.slap.exception import NotFoundError
        for reference in [REGISTRY] + ['bench-usable-%s-%s' % (k, r)
                                       for k in (2048, 4096)
                                       for r in range(5)]:
            try:
                slap.request(SOFTWARE, reference, 'default',
                             state='destroyed')
            except NotFoundError:  # never requested
                pass
        slap.waitForInstance(max_retry=3)
        slap.waitForReport(max_retry=3)

    def noop_figure(self, runs):
        """slapos node instance with nothing changed, and of it the
        partition's own buildout run (the instance profile), run as slapos
        node runs it: the shebang of sbin/buildout, -U, in the partition.
        Measured in the steady state that slapos node meets when it runs the
        instance again: once the services' start-up work (the first backup)
        is done."""
        status = os.path.join(self.partition_path(), 'srv', 'backup',
                              'status.json')
        deadline = time.monotonic() + 60
        while not os.path.exists(status) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5)
        values = []
        for run in range(runs):
            start = time.monotonic()
            self.node('slapos-node-instance-all')
            values.append(time.monotonic() - start)
        self.record('no-op instance run (slapos node instance --all)', 's',
                    values, 'nothing changed since the previous run; includes'
                    " slapos' own start and its promise launcher", target=2)
        partition = self.partition_path()
        with open(os.path.join(partition, 'sbin', 'buildout')) as f:
            command = f.readline()[2:].split() + ['sbin/buildout', '-U']
        values = []
        for run in range(runs):
            start = time.monotonic()
            subprocess.run(command, cwd=partition, check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            values.append(time.monotonic() - start)
        self.record('  of which the instance profile (the buildout run)', 's',
                    values, '%s in the partition' % ' '.join(command))

    # -- certificates ----------------------------------------------------

    def certificate_figures(self, count, clients_list, runs):
        """Certificates per second and latency of requestCertificate, with
        CSRs and tokens prepared up front, directly and through the
        forward."""
        from re6st.registry import RegistryClient
        csr = bench_csr()
        admin = self.registry_client()
        sides = {'re6stry-local-url': 'direct', 're6stry-url': 'forward'}

        def measure(side, clients, label):
            """(certificates/s, latencies) of `count` requests."""
            tokens = ['cert%s%s%06d' % (label, sides[side], i)
                      for i in range(count)]
            for token in tokens:
                admin.addToken('bench-%s' % token, token)
            latencies = []
            lock = threading.Lock()

            def worker(mine):
                client = RegistryClient(self.registry[side])
                for token in mine:
                    start = time.monotonic()
                    client.requestCertificate(token, csr)
                    with lock:
                        latencies.append(time.monotonic() - start)
            threads = [threading.Thread(target=worker,
                                        args=(tokens[i::clients],))
                       for i in range(clients)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return len(latencies) / (time.monotonic() - start), latencies

        for clients in clients_list:
            rates = {side: [] for side in sides}
            latencies = {side: [] for side in sides}
            before = self.node_count()
            for run in range(runs):
                # alternate which side goes first: the database grows
                order = list(sides) if run % 2 == 0 else list(sides)[::-1]
                for side in order:
                    rate, lat = measure(side, clients, '%s%s%s' % (
                        clients, run, int(time.time())))
                    rates[side].append(rate)
                    latencies[side] += lat
            how = ('requestCertificate x %s per run (RegistryClient, CSRs'
                   ' and tokens made before), %s threads, %s nodes before;'
                   ' runs alternate direct and forward' % (count, clients,
                                                           before))
            for side, name in sides.items():
                label = '%s, %s client(s)' % (name, clients)
                lat = sorted(latencies[side])
                self.record('certificates/s, ' + label, '/s', rates[side],
                            how)
                self.record('latency p50, ' + label, 's',
                            [lat[len(lat) // 2]], how + '; all runs pooled')
                self.record('latency p99, ' + label, 's',
                            [lat[int(len(lat) * 0.99) - 1]],
                            how + '; all runs pooled')
            self.record('throughput forward / direct, %s client(s)' % clients,
                        'x', [f / d for f, d in zip(rates['re6stry-url'],
                                                    rates['re6stry-local-url'])],
                        'ratio of the two rates above, run by run',
                        target=0.9, higher_is_better=True)

    def backup_figures(self, runs):
        """One on-demand backup (bin/re6st-backup: both databases with
        sqlite's backup API, the CA) and its restore (re6st-restore, which
        restarts the registry), with the nodes the registry holds."""
        partition = self.partition_path()
        # slapos names a software's directory after the md5 of its URL
        software = os.path.join(self.slap.software_directory,
                                hashlib.md5(SOFTWARE.encode()).hexdigest())
        nodes = self.node_count()
        backups, restores = [], []
        for run in range(runs):
            start = time.monotonic()
            backup = subprocess.run(
                [os.path.join(partition, 'bin', 're6st-backup')],
                check=True, capture_output=True, text=True
            ).stdout.strip().splitlines()[-1]
            backups.append(time.monotonic() - start)
            start = time.monotonic()
            subprocess.run(
                [os.path.join(software, 'bin', 're6st-restore'), '--backup',
                 backup, '--partition', partition],
                check=True, capture_output=True)
            while not self.answers():
                if time.monotonic() - start > TIMEOUT:
                    break
                time.sleep(0.05)
            restores.append(time.monotonic() - start)
        self.record('backup, %s nodes (bin/re6st-backup)' % nodes, 's',
                    backups, 'registry.db and tokens.db with the sqlite'
                    ' backup API, CA files, manifest')
        self.record('restore, %s nodes, until getCa answers again' % nodes,
                    's', restores, 're6st-restore of the backup just made,'
                    ' registry restarted')

    def answers(self):
        import urllib.request
        try:
            with urllib.request.urlopen(self.registry['re6stry-url']
                                        + 'getCa', timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def rss_figure(self, nodes):
        """Memory of re6st-registry once it holds `nodes`, after it issued
        one more certificate (issuing reads every certificate): resident
        now, and its peak since it started."""
        self.populate(nodes)
        csr = bench_csr()
        client = self.registry_client()
        token = 'rss%s%s' % (nodes, int(time.time()))
        client.addToken('bench-rss-%s' % token, token)
        client.requestCertificate(token, csr)
        # re6st-service writes the PID of the registry itself there
        pid, _ = read_pidfile(os.path.join(self.partition_path(), 'var',
                                           'run', 're6st-registry.pid'))
        with open('/proc/%s/status' % pid) as f:
            status = dict(line.split(':', 1) for line in f)
        count = self.node_count()
        how = ('/proc/<pid>/status of re6st-registry (VmRSS, and VmHWM: the'
               ' peak since it started) after one more requestCertificate')
        self.record('registry RSS with %s nodes' % count, 'MB',
                    [int(status['VmRSS'].split()[0]) / 1024], how)
        self.record('registry peak RSS with %s nodes' % count, 'MB',
                    [int(status['VmHWM'].split()[0]) / 1024], how)

    def abuse_figure(self, seconds):
        """The public side attacked for `seconds` (test/harness/attack.py: 200 idle
        and 200 slow connections, 300 malformed requests a second, 60
        connections of huge request heads, from 64 addresses of
        127.10.0.0/16) through the IPv4 forward, a probe asking getCa every
        0.2 s from 127.0.0.100: the share of answers within 1 s, the
        registry's peak memory and its logs' growth."""
        attack = harness_attack()
        url = 'http://127.0.0.1:%s/' % FORWARD_PORT
        partition = self.partition_path()

        def logs():
            paths = [os.path.join(partition, 'var', 'log',
                                  're6st-registry.log')]
            paths += [os.path.join(partition, name)
                      for name in os.listdir(partition)
                      if name.startswith('.') and name.endswith('.log')]
            return sum(os.path.getsize(p) for p in paths
                       if os.path.exists(p))
        before = logs()
        result = attack.run(url, duration=seconds, idle=200, slow=200,
                            flood=300, big=60, sources=64)
        pid, _ = read_pidfile(os.path.join(partition, 'var', 'run',
                                           're6st-registry.pid'))
        with open('/proc/%s/status' % pid) as f:
            status = dict(line.split(':', 1) for line in f)
        latencies = result['getca']
        how = ('test/harness/attack.py for %s s: %s getCa probes, %s malformed'
               ' requests sent' % (seconds, len(latencies),
                                   result['malformed']))
        self.record('getCa within 1 s during the attack', '%',
                    [100 * len([x for x in latencies if x is not None
                                and x <= 1]) / len(latencies)], how,
                    target=95, higher_is_better=True)
        self.record('registry peak memory during the attack', 'MB',
                    [int(status['VmHWM'].split()[0]) / 1024], how,
                    target=200)
        self.record('registry logs grown during the attack', 'MB',
                    [(logs() - before) / (1 << 20)], how, target=5)

    def stop(self):
        try:
            self.slap.stop()
        except OSError:
            pass


def table(figures):
    lines = ['%-70s %10s %10s %7s %s' % ('figure', 'median', 'spread',
                                          'runs', 'target')]
    for f in figures:
        target = ''
        if 'target' in f:
            target = '%s %s %s' % (
                '>=' if f.get('target-is') == 'minimum' else '<=',
                f['target'], 'ok' if f['meets-target'] else 'MISSED')
        lines.append('%-70s %8s %s %10s %7s %s' % (
            f['name'][:70], f['median'], f['unit'],
            '%s-%s' % (f['min'], f['max']), f['runs'], target))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--base', required=True)
    parser.add_argument('--output', default=os.path.join(
        TOP, 'bench', 'results.json'))
    parser.add_argument('--sizes', default='100,1000',
                        help='numbers of token instances')
    parser.add_argument('--nodes', type=int, default=1000,
                        help='nodes in the populated registry')
    parser.add_argument('--big-nodes', type=int, default=5000,
                        help='nodes in the registry of the last memory'
                        ' figure')
    parser.add_argument('--runs', type=int, default=3,
                        help='runs of the quick figures')
    parser.add_argument('--only', default='ca,supply,usable,noop,abuse,rss,'
                        'tokens,backup,certificates,scale',
                        help='figures to measure, comma separated')
    parser.add_argument('--scale-sizes', default='1,1000,10000,100000',
                        help='nodes of the registries of the scale figures')
    parser.add_argument('--scale-budget', type=float, default=20,
                        help='seconds each scale figure may take (at least'
                        ' 2 measures)')
    parser.add_argument('--scale-cache', default=os.path.join(
        TOP, '.work', 'bench-cache'), help='where the filled databases'
        ' of the scale figures are kept between runs')
    args = parser.parse_args()
    only = args.only.split(',')
    started = time.monotonic()
    if 'scale' in only:
        # re6st-registry with 1 to 100 000 nodes, re6st's own beside the
        # release's (tools/scale_bench.py; no SlapOS)
        from tools import scale_bench
        log('The registry at scale, re6st 0.642 beside the release...')
        scale_bench.run(args.scale_cache, [int(n) for n in
                                           args.scale_sizes.split(',')],
                        args.scale_budget, os.path.join(
                            os.path.dirname(args.output), 'scale.json'))
        only.remove('scale')
        if not only:
            return
    bench = Bench(os.path.abspath(args.base))
    try:
        if 'ca' in only:
            log("CA creation, ours and the anchor release's way...")
            bench.ca_figures(args.runs)
        bench.slap.start()
        if not os.listdir(bench.slap.instance_directory):
            bench.slap.format(1, embedded.IPV4, embedded.IPV6)
        if 'supply' in only:
            log('Building the release from scratch...')
            bench.drop_registry()
            bench.supply_figure(runs_warm=1, runs_cold=1)
        if 'usable' in only:
            log('Request -> usable...')
            bench.usable_figures((2048, 4096), args.runs)
        log('Deploying the bench registry...')
        bench.deploy({'forward-ipv4': '127.0.0.1',
                      'forward-port': FORWARD_PORT})
        if 'abuse' in only:
            log('The public side under attack...')
            bench.abuse_figure(60)
        if 'noop' in only:
            bench.noop_figure(args.runs + 4)
        if 'rss' in only:
            bench.rss_figure(0)
        if 'tokens' in only:
            bench.token_figures([int(n) for n in args.sizes.split(',')],
                                args.nodes, runs_1000=2)
        if 'rss' in only:
            bench.rss_figure(args.nodes)
        if 'backup' in only:
            bench.backup_figures(args.runs)
        if 'certificates' in only:
            bench.certificate_figures(50, (1, 8), args.runs)
        if 'rss' in only:
            bench.rss_figure(args.big_nodes)
    finally:
        bench.stop()
    results = {
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                    'system': platform.platform()},
        'date': time.strftime('%Y-%m-%d'),
        'duration-s': round(time.monotonic() - started, 1),
        'figures': bench.figures,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, 'w') as f:
        json.dump(results, f, indent=2)
    print(table(bench.figures))
    print('(%s s in all; written to %s)' % (results['duration-s'],
                                            args.output))


if __name__ == '__main__':
    main()
