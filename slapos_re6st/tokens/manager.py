"""The token manager: one registry token per shared "Re6st Token" instance.

A service of the registry partition (never a recipe's install: an instance
run must not fail because the registry restarts).  It reads the shared
instances that the last instance run wrote (requests.read_requests), and,
retrying whatever fails:

- gives each valid shared instance a token, made with `secrets`, stored once
  in its own database (store.Store) and never changed;
- registers it in the registry (addToken);
- watches it: once used, finds the node's prefix and addresses;
- publishes on the shared instance what changed, and only that;
- when a shared instance is gone: deletes its token if unused, revokes the
  node's certificate if used.

The registry knows a token's node by the "email" the token was added with:
the manager uses the shared instance's reference, unique per shared
instance (or a digest of it, see registry_email; an adopted token keeps
the name SlapOS's re6stnet release gave, store.Store.adopted_email), and
keeps the owner's email for itself.  One shared instance the registry fails on never keeps
the others from being registered, watched or dropped.
"""
import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import time

from ..lib.client import Client, RegistryError
from .requests import read_requests

log = logging.getLogger('re6st-token-manager')

READY = 'Token is ready for use'
PENDING = 'Token not registered yet: the registry did not answer, retrying'
# How often an unused token is checked for use (at most USE_CHECKS per pass,
# the least recently checked first, to keep the registry's load bounded) and
# a used one's IPv4 asked.
USE_CHECK_PERIOD = 10
USE_CHECKS = 20
IPV4_CHECK_PERIOD = 600
# References the registry is given as they are (short, plain: they fit in
# its request lines and its logs); others are given as a digest.
PLAIN_REFERENCE = re.compile(r'[A-Za-z0-9_.@+-]{1,64}$')


def registry_email(reference):
    """What a shared instance is known by in the registry: its reference,
    or, for one longer than the registry's request line allows (it could
    never be registered) or not plain, a digest of it."""
    if PLAIN_REFERENCE.match(reference):
        return reference
    return 'shared-%s' % hashlib.sha256(reference.encode()).hexdigest()[:32]


class Registry:
    """What the manager asks re6st-registry, through its administration
    URL with the partition's admin secret (lib.client): RegistryError
    when it cannot tell."""

    def __init__(self, url, secret_file=None):
        self.client = Client(url, secret_file)

    def add_token(self, email, token):
        try:
            self.client.call('addToken', email, token)
        except RegistryError:
            # a duplicate (409) looks the same: added by a call whose
            # answer was lost
            if not self.is_token(token):
                raise

    def delete_token(self, token):
        self.client.call('deleteToken', token)

    def is_token(self, token):
        return self.client.call('isToken', token) == b'1'

    def node_prefix(self, email):
        """'<prefix as int>/<length>' of the node registered with `email`."""
        return self.client.call('getNodePrefix', email).decode() or None

    def ipv6(self, email):
        return self.client.call('getIPv6Address', email).decode() or None

    def ipv4(self, email):
        """The node's IPv4 where re6st knows it; None otherwise (re6stnet
        0.642's getIPv4Information never answers one)."""
        body = self.client.maybe('getIPv4Information', email)
        return (body.decode() or None) if body else None

    def revoke(self, prefix):
        self.client.call('revoke', prefix)

    def answers(self):
        """Whether the registry answers at all (getCa)."""
        return self.client.maybe('getCa') is not None


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


def legacy_parameters(parameters):
    """What SlapOS's re6stnet release published on a token instance, as
    plain connection parameters, for one adopted from it: its token, its
    status as 1_info, the node's addresses ("::" and "0.0.0.0" while
    unknown, as that release wrote them)."""
    return {'token': parameters['token'], '1_info': parameters['status'],
            'ipv6': parameters.get('ipv6', '::'),
            'ipv4': parameters.get('ipv4', '0.0.0.0')}


@dataclasses.dataclass
class Manager:
    """The passes of the service: its configuration, the Registry, the
    master.Master, the store.Store, the token schema, and its clock."""
    config: dict
    registry: Registry
    master: object
    store: object
    schema: dict
    now: object = time.time

    def email(self, reference):
        """What the registry knows the node of `reference` by."""
        return (self.store.adopted_email(reference)
                or registry_email(reference))

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
        unseen = self.store.unseen()
        for reference in unseen & (set(valid) | set(invalid)):
            db.execute('UPDATE adopted SET seen=1 WHERE reference=?',
                       (reference,))
            unseen.discard(reference)
        for reference, row in known.items():
            if reference in unseen:
                continue  # adopted, its shared instance not requested yet
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

    def each(self, rows, action):
        """action(row) for each row; a RegistryError on one row goes into
        its status and the next row is taken, unless the registry does
        not answer at all (then it is raised: the pass is over)."""
        for row in rows:
            try:
                action(row)
            except RegistryError as e:
                self.store.update(row['reference'], error=str(e),
                                  checked=self.now())
                if not self.registry.answers():
                    raise
                log.warning('%s: %s; tried again later', row['reference'], e)

    def register(self):
        def add(row):
            self.registry.add_token(self.email(row['reference']),
                                    row['token'])
            self.store.update(row['reference'], registered=1, error=None)
            log.info('%s: token registered', row['reference'])
        # the least recently tried first
        self.each(self.store.rows('NOT registered AND NOT dropped',
                                  order='checked'), add)

    def drop(self):
        def drop(row):
            reference = row['reference']
            prefix = row['prefix']
            if row['registered'] and not prefix:
                if self.registry.is_token(row['token']):
                    self.registry.delete_token(row['token'])
                    log.info('%s: unused token deleted', reference)
                else:  # used since the last check
                    prefix = self.registry.node_prefix(
                        self.email(reference))
            if prefix:
                self.registry.revoke(prefix)
                log.info('%s: certificate of node %s revoked', reference,
                         prefix)
            self.store.db.execute('DELETE FROM token WHERE reference=?',
                                  (reference,))
        self.each(self.store.rows('dropped', order='checked'), drop)

    def watch(self):
        now = self.now()
        checks = 0
        for row in self.store.rows('registered AND NOT dropped',
                                   order='prefix IS NULL, checked'):
            reference = row['reference']
            if row['prefix']:
                if not row['ipv4'] and now - row['checked'] > IPV4_CHECK_PERIOD:
                    self.store.update(reference, checked=now,
                                      ipv4=self.registry.ipv4(
                                          self.email(reference)))
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
        email = self.email(reference)
        if self.registry.is_token(row['token']):
            self.store.update(reference, checked=now)
            return
        prefix = self.registry.node_prefix(email)
        if prefix:
            self.store.update(reference, prefix=prefix, checked=now,
                              ipv6=self.registry.ipv6(email),
                              ipv4=self.registry.ipv4(email))
            log.info('%s: token used by node %s', reference, prefix)
        else:
            # neither a token nor a node: deleted behind our back, or
            # consumed by a request the registry did not finish
            log.warning('%s: token gone from the registry, adding it'
                        ' again', reference)
            self.store.update(reference, registered=0, checked=now)

    def publish(self):
        unseen = self.store.unseen()
        for row in self.store.rows('NOT dropped'):
            if row['reference'] in unseen:
                continue  # not attached to this partition yet
            parameters = connection_parameters(row, self.config)
            text = json.dumps(parameters, sort_keys=True)
            if text != row['published']:
                if self.store.adopted_email(row['reference']) is None:
                    self.master.publish(row['reference'], parameters)
                else:
                    self.master.publish(row['reference'], parameters,
                                        legacy_parameters(parameters))
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
