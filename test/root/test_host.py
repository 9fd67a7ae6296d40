"""As root, what only root can check: `make run`, `make token` and `make
drop-token` as a user runs them, and what another local user (nobody)
can see of, and do to, a registry they deployed.  (`make test` runs this
suite as root; as another user, it is skipped.)"""
import glob
import json
import os
import socket
import unittest
import urllib.parse

from slapos_re6st.lib import process, registry_config

from support.host import (
    as_user, checkout, last_json, make, registry_partition, uid, work)

# re6st-registry's private RPCs (@rpc_private), each with the arguments
# it takes
PRIVATE_RPCS = {
    'addToken': 'email=intruder%40example.com&token=intrudertoken',
    'deleteToken': 'token=intrudertoken', 'isToken': 'token=intrudertoken',
    'revoke': 'cn_or_serial=1', 'getIPv6Address': 'email=host-node',
    'getNodePrefix': 'email=host-node', 'getIPv4Information': 'email=x',
    'updateHMAC': '', 'versions': '', 'topology': ''}
# Another local user calls `rpcs` at every URL, from every source address
# (any user may bind any local address), with headers a forwarder would
# add and a guessed secret: prints {"status or error": [calls]} as JSON.
INTRUDER = r"""
import http.client, json, sys
urls, sources, rpcs = json.loads(sys.argv[1])
seen = {}
for host, port in urls:
    for source in sources:
        if (':' in source) != (':' in host):
            continue
        for headers in ({}, {'X-Forwarded-For': source},
                        {'X-Forwarded-For': '127.0.0.1',
                         'X-Re6st-Admin': '0' * 64},
                        {'X-Re6st-Admin': ''}):
            for rpc, query in rpcs.items():
                c = http.client.HTTPConnection(host, port, timeout=20,
                                               source_address=(source, 0))
                try:
                    c.request('GET', '/%s?%s' % (rpc, query) if query
                              else '/' + rpc, headers=headers)
                    r = c.getresponse()
                    r.read()
                    outcome = str(r.status)
                except OSError as e:
                    outcome = type(e).__name__
                finally:
                    c.close()
                seen.setdefault(outcome, []).append(
                    '%s [%s]:%s from %s %s' % (rpc, host, port, source,
                                               sorted(headers)))
print(json.dumps(seen))
"""


def listening(pid):
    """(address, port) of every TCP socket process `pid` listens on."""
    inodes = set()
    for fd in glob.glob('/proc/%s/fd/*' % pid):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    found = []
    for table, family in ('tcp', socket.AF_INET), ('tcp6', socket.AF_INET6):
        with open('/proc/%s/net/%s' % (pid, table)) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] != '0A' or fields[9] not in inodes:  # LISTEN
                    continue
                address, port = fields[1].split(':')
                raw = bytes.fromhex(address)
                # the kernel prints each 32-bit word in host order
                raw = b''.join(raw[i:i + 4][::-1]
                               for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(port, 16)))
    return found


# what a shell or make would expand, and quotes
PASSWORD = 'pw-$$-$(shell touch %s)-$HOME-"q\'-%%'
MARKER = '/tmp/re6st-make-expanded'


@unittest.skipUnless(os.geteuid() == 0, 'root only (make test as root)')
class TestMakeRun(unittest.TestCase):
    """One registry deployed by `make run` with secrets, then a token
    requested and dropped: parameters given once and kept, nothing secret
    seen by another user."""

    @classmethod
    def setUpClass(cls):
        if os.path.exists(MARKER):
            os.remove(MARKER)
        cls.password = PASSWORD % MARKER
        cls.params = {'prefix-length': 20, 'client-count': 5, 'verbose': 2,
                      'mailhost': 'smtp.example.com:2525',
                      'smtp-user': 'registry',
                      'smtp-password': cls.password}
        # (also when make run fails: what it started stops)
        cls.addClassCleanup(make, 'stop')
        # PARAMS on make's command line, as users type it
        cls.published = last_json(make('run', 'PARAMS=' + json.dumps(
            cls.params)))

    def path(self, *names):
        return os.path.join(registry_partition(), *names)

    def config(self):
        return registry_config.parse(self.path('etc', 're6st-registry.conf'))

    def registry_pid(self):
        return process.read_pidfile(self.path('var', 'run',
                                              're6st-registry.pid'))[0]

    def logs(self):
        return [self.path('var', 'log', 're6st-registry.log')] + glob.glob(
            self.path('.*.log')) + glob.glob(os.path.join(
                work(), 'slapos', 'var', 'log', '*.log'))

    def assertNowhereSeen(self, *secrets):
        """Not in another user's reach: the embedded SlapOS's files and
        API, any process's command line, the logs."""
        for secret in secrets:
            for path in self.logs():
                with open(path, errors='replace') as f:
                    self.assertNotIn(secret, f.read(), path)
            for cmdline in glob.glob('/proc/[0-9]*/cmdline'):
                try:
                    with open(cmdline, 'rb') as f:
                        self.assertNotIn(secret.encode(), f.read(), cmdline)
                except OSError:  # gone meanwhile
                    pass
        database = os.path.join(work(), 'slapos', 'var', 'proxy.db')
        self.assertTrue(os.path.exists(database))
        self.assertNotEqual(as_user('cat', database, user='nobody',
                                    ).returncode, 0)
        result = as_user('python3', '-c', 'import socket;'
                         ' socket.create_connection(("127.0.0.1", 19380), 5)',
                         user='nobody')
        self.assertNotEqual(result.returncode, 0, 'nobody reached the API')
        self.assertIn('refused', result.stderr.lower())
        # the user itself does reach it
        self.assertEqual(as_user('python3', '-c', 'import socket;'
                                 ' socket.create_connection(("127.0.0.1",'
                                 ' 19380), 5)').returncode, 0)

    def test_parameters_given_once_and_kept(self):
        self.assertFalse(os.path.exists(MARKER), 'make expanded PARAMS')
        config = self.config()
        self.assertEqual(config.smtp_pwd, self.password)
        self.assertEqual((config.prefix_length, config.client_count,
                          config.verbose), (20, 5, 2))
        pid = self.registry_pid()
        token = last_json(make('token', 'NAME=alice-laptop'))
        self.assertEqual(token['status'], 'Token is ready for use')
        last_json(make('token', 'NAME=bob'))
        result = make('drop-token', 'NAME=bob')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        config = self.config()
        self.assertEqual((config.prefix_length, config.client_count,
                          config.verbose, config.smtp_pwd),
                         (20, 5, 2, self.password))
        self.assertEqual(self.registry_pid(), pid)
        self.assertNowhereSeen(self.password, token['token'])

    def test_make_run_ends_once_the_registry_runs_its_configuration(self):
        params = dict(self.params, hello=16)
        # with a secret: PARAMS in the environment, not on a command line
        result = make('run', PARAMS=json.dumps(params))
        last_json(result)
        # its exit said: the registry runs with the new configuration
        pidfile = self.path('var', 'run', 're6st-registry.pid')
        conf = self.path('etc', 're6st-registry.conf')
        self.assertEqual(self.config().hello, 16)
        # (seen as the user: process_of sees that user's processes only)
        running = as_user(os.path.join(work(), 'venv', 'bin', 'python'), '-c',
                          'import sys; from slapos_re6st.lib import process;'
                          ' print(process.process_of(sys.argv[1]))', pidfile,
                          cwd=checkout())
        self.assertEqual(running.stdout.strip(), str(self.registry_pid()),
                         running.stderr)
        self.assertGreaterEqual(os.stat(pidfile).st_mtime,
                                os.stat(conf).st_mtime)
        last_json(make('run', 'PARAMS=' + json.dumps(self.params)))
        self.assertEqual(self.config().hello, 15)
        self.assertNowhereSeen(self.password)

    def test_no_other_user_calls_the_private_rpcs(self):
        """As nobody: every private RPC refused, at every address the
        registry and its forward listen on, from every local source
        address, whatever the headers; the partition's own tools work."""
        pids = [process.read_pidfile(self.path('var', 'run', name))[0]
                for name in ('re6st-registry.pid', 're6st-forward.pid')]
        addresses = set()
        for pid in pids:
            for address, port in listening(pid):
                if address in ('0.0.0.0', '::'):
                    addresses.update(('127.0.0.1', port), ('::1', port))
                else:
                    addresses.add((address, port))
        registry = urllib.parse.urlsplit(self.published['re6stry-local-url'])
        forward = urllib.parse.urlsplit(self.published['re6stry-url'])
        # the registry's address, the forward's, and where re6st trusts
        self.assertIn((registry.hostname, registry.port), addresses)
        self.assertIn((forward.hostname, forward.port), addresses)
        for host in '127.0.0.1', '::1', registry.hostname, forward.hostname:
            addresses.add((host, registry.port))
            addresses.add((host, forward.port))
        sources = sorted({'127.0.0.1', '::1', registry.hostname,
                          forward.hostname} | set(
                              self.config().authorized_origin))
        result = as_user('/usr/bin/python3', '-c', INTRUDER, json.dumps(
            [sorted(addresses), sources, PRIVATE_RPCS]), user='nobody',
            timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout)
        # refused: 403 by the registry, 404 by the forward, or no listener
        self.assertLessEqual(set(seen), {'403', '404',
                                         'ConnectionRefusedError'}, {
            k: v[:5] for k, v in seen.items()})
        self.assertGreaterEqual(len(seen.get('403', [])), len(PRIVATE_RPCS))
        # nobody cannot read the secret, which is nowhere else
        secret_file = self.path('etc', 're6st-registry-admin.secret')
        self.assertNotEqual(as_user('cat', secret_file, user='nobody'
                                    ).returncode, 0)
        with open(secret_file) as f:
            secret = f.read().strip()
        self.assertNowhereSeen(secret)
        # the partition's own command (its user's) calls them all
        command = self.path('bin', 're6st-registry-admin')
        for args, out in ((['addToken', 'email=admin@example.com',
                            'token=admintoken'], ''),
                          (['isToken', 'token=admintoken'], '1\n'),
                          (['deleteToken', 'token=admintoken'], ''),
                          (['isToken', 'token=admintoken'], ''),
                          (['isToken', 'token=intrudertoken'], '')):
            result = as_user(command, *args, timeout=60)
            self.assertEqual((result.returncode, result.stdout), (0, out),
                             result.stderr)
        # as nobody, the command fails with a sentence
        result = as_user(command, 'isToken', 'token=x', user='nobody',
                         timeout=60)
        self.assertNotEqual(result.returncode, 0)
        # and make token, make drop-token (the token manager) still work
        token = last_json(make('token', 'NAME=admin-check'))
        self.assertEqual(token['status'], 'Token is ready for use')
        result = make('drop-token', 'NAME=admin-check')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_the_work_directory_is_the_users_only(self):
        self.assertEqual(os.stat(work()).st_uid, uid())
        self.assertEqual(os.stat(work()).st_mode & 0o077, 0)
        for path in self.logs():
            self.assertNotEqual(as_user('cat', path, user='nobody',
                                        ).returncode, 0, path)
