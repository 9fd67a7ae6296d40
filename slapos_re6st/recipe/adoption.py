"""Adoption of a registry of SlapOS's own re6stnet release in this
partition (lib.adoption), before anything can create a CA.  When buildout
makes it (nothing written then), it finds and checks the old layout, and
tells [ca] which CA is to come (adopted-key, adopted-cert, adopted-dh),
so that the CA's fingerprint is the old one from the first run on;
install(), which runs before [ca]'s, stops the old registry and copies
CA, database and tokens, then records it.  Done once: the record makes
every later run leave the old files, and what moved on since, alone."""
import json
import logging

import zc.buildout

from ..lib import adoption
from . import require

log = logging.getLogger(__name__)


class Recipe:
    """Options: partition (its directory), parameters (the request, as
    slap-configuration sets it), ipv6-prefix and key-size (validated,
    defaults filled), ipv6 (the partition's), key, cert, dh, db,
    tokens-db (this release's paths), record (the adoption's record),
    default-url (the forward's URL).

    Sets: key, cert, dh (unchanged, for [ca]), adopted-key, adopted-cert,
    adopted-dh (the old CA's files while its adoption is to come, else
    empty), current-db (the registry's database as it is now: the old one
    while its adoption is to come), ipv6-prefix and key-size (the
    request's, or, for an adopted network, the adopted CA's when the
    request has none), adopted ("true" or empty), re6stry-url (what nodes are given: what the old release
    published, else default-url), listen (the old Apache's address and
    port the forward takes over: "ADDRESS PORT", or empty),
    redirect-ports (9201, where the node's port redirection took the
    host's IPv4 for the old release, or empty)."""

    def __init__(self, buildout, name, options):
        require(name, options, 'partition', 'parameters', 'ipv6-prefix',
                'key-size', 'ipv6', 'key', 'cert', 'dh', 'db', 'tokens-db',
                'record', 'default-url')
        self.options = options
        requested = json.loads(options['parameters'])
        self.target = adoption.Target(
            options['key'], options['cert'], options['dh'], options['db'],
            options['tokens-db'], options['record'])
        self.plan = None
        try:
            record = adoption.read_record(self.target.record)
            if record is None:
                self.plan = self.planned(options, requested)
        except adoption.Refusal as e:
            raise zc.buildout.UserError(str(e))
        plan = self.plan
        for key in 'adopted-key', 'adopted-cert', 'adopted-dh':
            options[key] = ''
        options['current-db'] = options['db']
        if plan is not None:
            layout = plan.layout
            if layout.db:
                options['current-db'] = layout.path(layout.db)
            options['adopted-key'] = layout.path(layout.key)
            options['adopted-cert'] = layout.path(layout.cert)
            options['adopted-dh'] = layout.dh and layout.path(layout.dh) or ''
            record = {'ipv6-prefix': plan.ipv6_prefix,
                      'key-size': plan.key_size}
        options['adopted'] = 'true' if record else ''
        options['re6stry-url'] = options['default-url']
        options['listen'] = options['redirect-ports'] = ''
        if record:
            for key in 'ipv6-prefix', 'key-size':
                if key not in requested:
                    options[key] = str(record[key])
            options['re6stry-url'] = 'http://[%s]:%s' % (
                options['ipv6'], adoption.OLD_PORT)
            # its old URL (Apache's)
            options['listen'] = '%s %s' % (options['ipv6'], adoption.OLD_PORT)
            options['redirect-ports'] = str(adoption.OLD_FORWARD_PORT)

    @staticmethod
    def planned(options, requested):
        """The checked Plan of adopting the old layout, or None when the
        partition holds none (read only)."""
        layout = adoption.find(options['partition'])
        if layout is None:
            return None
        plan = adoption.check(
            layout,
            options['ipv6-prefix'] if 'ipv6-prefix' in requested else None,
            options['key-size'] if 'key-size' in requested else None)
        adoption.check_target(adoption.Target(
            options['key'], options['cert'], options['dh'], options['db'],
            options['tokens-db'], options['record']))
        return plan

    def install(self):
        plan = self.plan
        if plan is not None:
            try:
                adoption.stop(self.options['partition'])
                adoption.adopt(plan, self.target)
            except adoption.Refusal as e:
                raise zc.buildout.UserError(str(e))
            log.warning(
                "Adopted the registry of SlapOS's re6stnet release: CA %s"
                ' (%s), %s nodes, main node %s (%s), %s tokens; its files'
                ' are kept as they were (see %s).', plan.fingerprint,
                plan.ipv6_prefix, plan.nodes, plan.main_node,
                plan.main_email, len(plan.tokens), self.target.record)
            self.plan = None
        return []

    update = install
