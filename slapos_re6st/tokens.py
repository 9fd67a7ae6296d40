"""re6st-token-manager: one registry token per shared "Re6st Token" instance.

A service of the registry partition (never a recipe's install: an instance
run must not fail because the registry restarts).  It reads the shared
instances that the last instance run wrote (`requests-file`), and, retrying
whatever fails:

- gives each valid shared instance a token, made with `secrets`, stored once
  in its own sqlite database (`state-file`, under srv/) and never changed;
- registers it in the registry (addToken; 204 and 409 both mean done);
- watches it: once used, finds the node's prefix and addresses;
- publishes on the shared instance what changed, and only that;
- when a shared instance is gone: deletes its token if unused, revokes the
  node's certificate if used.

The registry knows a token's node by the "email" the token was added with:
this service uses the shared instance's reference, unique per shared
instance, and keeps the owner's email for itself.
"""
import argparse
import json
import logging
import os
import secrets
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request

from .parameters import schema_problems
from .slapconfiguration import request_parameters

log = logging.getLogger('re6st-token-manager')

READY = 'Token is ready for use'
PENDING = 'Token not registered yet: the registry did not answer, retrying'
# How often an unused token is checked for use (at most USE_CHECKS per pass,
# the least recently checked first, to keep the registry's load bounded) and
# a used one's IPv4 asked.
USE_CHECK_PERIOD = 10
USE_CHECKS = 20
IPV4_CHECK_PERIOD = 600


class RegistryError(Exception):
    """The registry did not answer as expected: retry later."""


class Registry:
    """re6st-registry's RPCs, through its administration URL."""

    def __init__(self, url, timeout=30):
        self.url = url
        self.timeout = timeout

    def call(self, method, **kw):
        """(status, body); RegistryError when it cannot be reached."""
        url = self.url + method
        if kw:
            url += '?' + urllib.parse.urlencode(kw)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, b''
        except (OSError, urllib.error.URLError) as e:
            raise RegistryError('%s: %s' % (method, e))

    def add_token(self, email, token):
        status, _ = self.call('addToken', email=email, token=token)
        if status not in (200, 204, 409):
            raise RegistryError('addToken answered %s' % status)

    def delete_token(self, token):
        status, _ = self.call('deleteToken', token=token)
        if status not in (200, 204):
            raise RegistryError('deleteToken answered %s' % status)

    def is_token(self, token):
        status, body = self.call('isToken', token=token)
        if status not in (200, 204):
            raise RegistryError('isToken answered %s' % status)
        return body == b'1'

    def node_prefix(self, email):
        """'<prefix as int>/<length>' of the node registered with `email`."""
        status, body = self.call('getNodePrefix', email=email)
        if status not in (200, 204):
            raise RegistryError('getNodePrefix answered %s' % status)
        return body.decode() or None

    def ipv6(self, email):
        status, body = self.call('getIPv6Address', email=email)
        if status not in (200, 204):
            raise RegistryError('getIPv6Address answered %s' % status)
        return body.decode() or None

    def ipv4(self, email):
        """The node's IPv4 where re6st knows it (None otherwise, or when the
        registry cannot tell: it needs its babeld for that)."""
        try:
            status, body = self.call('getIPv4Information', email=email)
        except RegistryError:
            return None
        return (body.decode() or None) if status == 200 else None

    def revoke(self, prefix):
        status, _ = self.call('revoke', cn_or_serial=prefix)
        if status not in (200, 204):
            raise RegistryError('revoke answered %s' % status)


class Master:
    """Publishes connection parameters on shared instances."""

    def __init__(self, url, computer, partition, key=None, cert=None):
        from slapos import slap
        connection = slap.slap()
        connection.initializeConnection(url, key or None, cert or None)
        self.partition = connection.registerComputerPartition(
            computer, partition)

    def publish(self, reference, parameters):
        self.partition.setConnectionDict(
            {'_': json.dumps(parameters, sort_keys=True)}, reference)


class Store:
    """The service's own state, one row per shared instance."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS token (
            reference TEXT PRIMARY KEY,
            token TEXT UNIQUE NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            registered INTEGER NOT NULL DEFAULT 0,
            prefix TEXT,             -- the node's, once the token is used
            ipv6 TEXT,
            ipv4 TEXT,
            checked REAL NOT NULL DEFAULT 0,   -- last use / IPv4 check
            dropped INTEGER NOT NULL DEFAULT 0, -- shared instance destroyed
            error TEXT,              -- last registry error, for the status
            published TEXT           -- what was last published
        );
        CREATE TABLE IF NOT EXISTS invalid (
            reference TEXT PRIMARY KEY,
            error TEXT NOT NULL,
            published TEXT
        );
    """

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(self.SCHEMA)

    def rows(self, where='1', args=(), order='reference'):
        return self.db.execute(
            'SELECT * FROM token WHERE %s ORDER BY %s' % (where, order),
            args).fetchall()

    def update(self, reference, **values):
        self.db.execute(
            'UPDATE token SET %s WHERE reference=?'
            % ', '.join('%s=?' % k for k in values),
            tuple(values.values()) + (reference,))


def read_requests(path, schema):
    """{reference: parameters} of the valid shared instances and
    {reference: error sentence} of the invalid ones, as the last instance
    run saw them; None when there is no such file yet (which must never be
    taken for "no shared instance")."""
    try:
        with open(path) as f:
            shared = json.load(f)
    except FileNotFoundError:
        return None
    valid, invalid = {}, {}
    for item in shared:
        reference = item['reference']
        try:
            parameters = request_parameters(item['parameters'])
        except ValueError as e:
            invalid[reference] = str(e)
            continue
        problems = schema_problems(parameters, schema)
        if problems:
            invalid[reference] = ' '.join(problems)
        else:
            valid[reference] = parameters
    return valid, invalid


def connection_parameters(row, config):
    """What a shared token instance publishes."""
    if row['prefix']:
        status = 'Token used: node %s' % (row['ipv6'] or row['prefix'])
    elif row['registered']:
        status = READY
    else:
        status = PENDING + (' (%s)' % row['error'] if row['error'] else '')
    parameters = {
        'token': row['token'],
        're6stry-url': config['re6stry-url'],
        'ca-fingerprint': config['ca-fingerprint'],
        'status': status,
        'join-command': 're6st-conf --registry %s --fingerprint %s'
                        ' --token %s -d /etc/re6stnet' % (
                            config['re6stry-url'], config['ca-fingerprint'],
                            row['token']),
    }
    if row['ipv6']:
        parameters['ipv6'] = row['ipv6']
    if row['ipv4']:
        parameters['ipv4'] = row['ipv4']
    return parameters


class Manager:

    def __init__(self, config, registry, master, store, schema, now=time.time):
        self.config = config
        self.registry = registry
        self.master = master
        self.store = store
        self.schema = schema
        self.now = now

    def sync(self, requests):
        """Bring the store in line with the shared instances requested."""
        valid, invalid = requests
        db = self.store.db
        known = {row['reference']: row for row in self.store.rows()}
        for reference, parameters in valid.items():
            row = known.get(reference)
            if row is None:
                db.execute(
                    'INSERT INTO token (reference, token, email, description)'
                    ' VALUES (?, ?, ?, ?)',
                    (reference, secrets.token_hex(16),
                     parameters.get('email', ''),
                     parameters.get('description', '')))
                log.info('%s: new token', reference)
            elif row['dropped']:
                continue  # being dropped: a new request waits for the end
            elif (row['email'], row['description']) != (
                    parameters.get('email', ''),
                    parameters.get('description', '')):
                self.store.update(reference,
                                  email=parameters.get('email', ''),
                                  description=parameters.get('description', ''))
        for reference, row in known.items():
            if reference not in valid and not row['dropped']:
                self.store.update(reference, dropped=1)
                log.info('%s: shared instance gone, dropping its token',
                         reference)
        known_invalid = dict(db.execute('SELECT reference, error FROM invalid'))
        for reference in set(known_invalid) - set(invalid):
            db.execute('DELETE FROM invalid WHERE reference=?', (reference,))
        for reference, error in invalid.items():
            if known_invalid.get(reference) != error:
                db.execute('INSERT OR REPLACE INTO invalid (reference, error)'
                           ' VALUES (?, ?)', (reference, error))

    def register(self):
        for row in self.store.rows('NOT registered AND NOT dropped'):
            try:
                self.registry.add_token(row['reference'], row['token'])
            except RegistryError as e:
                self.store.update(row['reference'], error=str(e))
                raise
            self.store.update(row['reference'], registered=1, error=None)
            log.info('%s: token registered', row['reference'])

    def drop(self):
        for row in self.store.rows('dropped'):
            reference = row['reference']
            prefix = row['prefix']
            if row['registered'] and not prefix:
                if self.registry.is_token(row['token']):
                    self.registry.delete_token(row['token'])
                    log.info('%s: unused token deleted', reference)
                else:  # used since the last check
                    prefix = self.registry.node_prefix(reference)
            if prefix:
                self.registry.revoke(prefix)
                log.info('%s: certificate of node %s revoked', reference,
                         prefix)
            self.store.db.execute('DELETE FROM token WHERE reference=?',
                                  (reference,))

    def watch(self):
        now = self.now()
        checks = 0
        for row in self.store.rows('registered AND NOT dropped',
                                   order='prefix IS NULL, checked'):
            reference = row['reference']
            if row['prefix']:
                if not row['ipv4'] and now - row['checked'] > IPV4_CHECK_PERIOD:
                    self.store.update(reference, checked=now,
                                      ipv4=self.registry.ipv4(reference))
                continue
            if now - row['checked'] < USE_CHECK_PERIOD:
                continue
            if checks == USE_CHECKS:
                break
            checks += 1
            try:
                self.check_use(row, now)
            except RegistryError as e:
                # to the back of the queue: one token the registry cannot
                # answer about (e.g. a half-stored node after a crash) must
                # not keep the others from being checked
                self.store.update(reference, checked=now)
                log.warning('%s: %s; checked again later', reference, e)

    def check_use(self, row, now):
        """Whether the token of `row` was used, and by which node."""
        reference = row['reference']
        if self.registry.is_token(row['token']):
            self.store.update(reference, checked=now)
            return
        prefix = self.registry.node_prefix(reference)
        if prefix:
            self.store.update(reference, prefix=prefix, checked=now,
                              ipv6=self.registry.ipv6(reference),
                              ipv4=self.registry.ipv4(reference))
            log.info('%s: token used by node %s', reference, prefix)
        else:
            # neither a token nor a node: deleted behind our back, or
            # consumed by a request the registry did not finish
            log.warning('%s: token gone from the registry, adding it'
                        ' again', reference)
            self.store.update(reference, registered=0, checked=now)

    def publish(self):
        for row in self.store.rows('NOT dropped'):
            parameters = connection_parameters(row, self.config)
            text = json.dumps(parameters, sort_keys=True)
            if text != row['published']:
                self.master.publish(row['reference'], parameters)
                self.store.update(row['reference'], published=text)
        for row in self.store.db.execute('SELECT * FROM invalid').fetchall():
            parameters = {'status': 'Invalid request: %s' % row['error']}
            text = json.dumps(parameters, sort_keys=True)
            if text != row['published']:
                self.master.publish(row['reference'], parameters)
                self.store.db.execute(
                    'UPDATE invalid SET published=? WHERE reference=?',
                    (text, row['reference']))

    def step(self, requests):
        """One pass; what fails is retried on the next pass.  `requests`:
        as read_requests returns them (None: not known yet)."""
        if requests is not None:
            self.sync(requests)
        for action in self.drop, self.register, self.watch, self.publish:
            try:
                action()
            except RegistryError as e:
                log.warning('registry: %s; retrying', e)
            except Exception:
                log.exception('%s failed; retrying', action.__name__)


def run(config, manager, period=1.0, passes=None):
    """Pass every `period` seconds; re-read the requests when they change."""
    path = config['requests-file']
    seen = None
    requests = None
    count = 0
    while passes is None or count < passes:
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != seen:
            requests = read_requests(path, manager.schema)
            seen = stamp
        manager.step(requests)
        count += 1
        time.sleep(period)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='configuration file (JSON)')
    parser.add_argument('--period', type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(message)s')
    with open(args.config) as f:
        config = json.load(f)
    with open(config['schema']) as f:
        schema = json.load(f)
    manager = Manager(
        config, Registry(config['registry-url']),
        Master(config['master-url'], config['computer'], config['partition'],
               config.get('key'), config.get('cert')),
        Store(config['state-file']), schema)
    run(config, manager, args.period)


class Recipe:
    """Writes the service's inputs: its configuration (config-file) and the
    shared instances of the last instance run (requests-file, never handed
    to buildout: a missing file would read as "every token dropped").

    Options: config-file, requests-file, state-file, shared-instances (JSON,
    from slap-configuration), schema, registry-url, re6stry-url,
    ca-fingerprint, master-url, computer, partition, key, cert."""

    CONFIG = ('requests-file', 'state-file', 'schema', 'registry-url',
              're6stry-url', 'ca-fingerprint', 'master-url', 'computer',
              'partition', 'key', 'cert')
    REQUIRED = ('config-file', 'requests-file', 'state-file', 'schema',
                'registry-url', 're6stry-url', 'ca-fingerprint', 'master-url',
                'computer', 'partition', 'shared-instances')

    def __init__(self, buildout, name, options):
        import zc.buildout
        missing = [k for k in self.REQUIRED if k not in options]
        if missing:
            raise zc.buildout.UserError('[%s] needs the options %s.'
                                        % (name, ', '.join(missing)))
        self.options = options

    def install(self):
        from .registry import write_if_changed
        config = {k: self.options.get(k, '') for k in self.CONFIG}
        write_if_changed(self.options['config-file'],
                         json.dumps(config, indent=2, sort_keys=True) + '\n')
        os.makedirs(os.path.dirname(self.options['requests-file']),
                    mode=0o700, exist_ok=True)
        write_if_changed(self.options['requests-file'],
                         self.options['shared-instances'] + '\n')
        return [self.options['config-file']]

    def update(self):
        self.install()
