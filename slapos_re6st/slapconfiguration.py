"""Read the partition from the SlapOS master: software type, parameters,
addresses.

slapos.cookbook's slapconfiguration recipes store sets and dicts as option
values, which PyPI's zc.buildout refuses ("Option values must be strings"):
this one publishes only strings.

Secrets (smtp-password, backup-repository: its URL may hold a password)
never become option values: buildout records every
option of every part in .installed.cfg, and the whole request would be
there.  The recipe replaces each secret of the request by SECRET_MARKER in
its `parameters` option and keeps the value in memory, for the recipes of
the same buildout run (secret, secrets_of); the registry configuration
recipe writes it, into a file of mode 0600 only.
"""
import ipaddress
import json

import zc.buildout

# Keys of getInstanceParameterDict() that describe the partition, not the
# request.
SLAP_KEYS = (
    'ip_list', 'full_ip_list', 'full_address_list', 'slap_software_type', 'slave_instance_list',
    'slap_computer_id', 'slap_computer_partition_id',
    'slap_software_release_url', 'timestamp', 'instance_title',
    'root_instance_title', 'root_instance_short_title',
)
# The key under which json-in-xml serialisation carries the parameters.
SERIALISED_KEY = '_'
# Keys of a shared instance's entry that describe it, not its request.
SHARED_KEYS = ('slave_reference', 'slave_title', 'slap_software_type',
               'timestamp')
# Request parameters that are secrets, and what stands for them in options.
SECRET_PARAMETERS = ('smtp-password', 'backup-repository')
SECRET_MARKER = '(secret, not recorded)'
# {buildout directory: {parameter: secret}}, for the run in progress.
_secrets = {}


def hide_secrets(parameters):
    """(parameters with each secret replaced by SECRET_MARKER, {name:
    secret}).  An empty string (no secret) is left as it is; any other
    value is hidden, valid or not: the validation, which gets it back from
    secrets_of, refuses it without showing it."""
    shown, secrets = dict(parameters), {}
    for name in SECRET_PARAMETERS:
        if name in shown and shown[name] != '':
            secrets[name] = shown[name]
            shown[name] = SECRET_MARKER
    return shown, secrets


def _directory(buildout):
    if buildout is None:
        return ''
    return buildout['buildout'].get('directory', '')


def remember_secrets(buildout, secrets):
    _secrets[_directory(buildout)] = dict(secrets)


def secret(buildout, name):
    """The secret `name` of this run's request; None if unknown."""
    return _secrets.get(_directory(buildout), {}).get(name)


def secrets_of(buildout, parameters):
    """{name: secret} for each secret that `parameters` hides behind
    SECRET_MARKER.  UserError if this run did not read it."""
    found = {}
    for name in SECRET_PARAMETERS:
        if parameters.get(name) == SECRET_MARKER:
            value = secret(buildout, name)
            if value is None:
                raise zc.buildout.UserError(
                    '%r is hidden in the parameters but was not read in this'
                    ' buildout run: run the whole instance profile.' % name)
            found[name] = value
    return found


def shared_instances(slave_instance_list):
    """[{reference, parameters}] of the shared instances attached to this
    partition, parameters as the master sent them (validated later, per
    shared instance, so that one bad request harms no other)."""
    return [{'reference': item['slave_reference'],
             'parameters': {k: v for k, v in item.items()
                            if k not in SHARED_KEYS}}
            for item in slave_instance_list]


def request_parameters(parameter_dict):
    """The parameters the requester sent: a dict, unwrapped from json-in-xml.
    Raises ValueError with a sentence when they are not a JSON object."""
    if SERIALISED_KEY in parameter_dict:
        raw = parameter_dict[SERIALISED_KEY]
        try:
            parameters = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            raise ValueError('The instance parameters are not valid JSON (%s):'
                             ' send one JSON object.' % e)
        if not isinstance(parameters, dict):
            raise ValueError('The instance parameters must be one JSON object,'
                             ' not %s.' % type(parameters).__name__)
        return parameters
    return {k: v for k, v in parameter_dict.items() if k not in SLAP_KEYS}


def partition_addresses(ip_list):
    """(ipv4, ipv6) of the partition: the lowest of each family, '' if
    none."""
    v4, v6 = [], []
    for _, ip in ip_list:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            continue
        (v4 if address.version == 4 else v6).append(address)
    return str(min(v4)) if v4 else '', str(min(v6)) if v6 else ''


class Recipe:
    """Options: url, computer, partition, key, cert (from [slap-connection]).
    Sets: software-type, parameters (one JSON object, secrets replaced by
    SECRET_MARKER, see hide_secrets), ipv4, ipv6,
    instance-state, shared-instances (JSON list, see shared_instances)."""

    def __init__(self, buildout, name, options):
        from slapos import slap
        for option in 'url', 'computer', 'partition':
            if not options.get(option):
                raise zc.buildout.UserError(
                    '[%s] needs the option %r.' % (name, option))
        connection = slap.slap()
        connection.initializeConnection(
            options['url'], options.get('key') or None,
            options.get('cert') or None)
        partition = connection.registerComputerPartition(
            options['computer'], options['partition'])
        parameter_dict = partition.getInstanceParameterDict()
        try:
            parameters = request_parameters(parameter_dict)
        except ValueError as e:
            raise zc.buildout.UserError(str(e))
        parameters, secrets = hide_secrets(parameters)
        remember_secrets(buildout, secrets)
        options['parameters'] = json.dumps(parameters, sort_keys=True)
        options['software-type'] = parameter_dict.get('slap_software_type') or ''
        options['ipv4'], options['ipv6'] = partition_addresses(
            parameter_dict.get('ip_list') or ())
        options['instance-state'] = partition.getState() or ''
        options['shared-instances'] = json.dumps(shared_instances(
            parameter_dict.get('slave_instance_list') or ()), sort_keys=True)

    def install(self):
        return []

    update = install
