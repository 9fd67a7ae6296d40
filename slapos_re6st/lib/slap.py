"""What the SlapOS master says of a partition, as plain values: the
request's parameters (json-in-xml or plain), the shared instances attached
to it, its addresses; and the secrets of a request.

Secrets (the parameters the request schema marks "writeOnly":
lib.schema.secret_parameters) never become buildout option values, which
buildout records in .installed.cfg: the partition's slap-configuration
replaces each by SECRET_MARKER in the parameters it publishes and hands the
values over in a file of mode 0600 (write_secrets, read_secrets), whose
path is an option.
"""
import ipaddress
import json
import os

from . import files

# Keys of getInstanceParameterDict() that describe the partition, not the
# request.
SLAP_KEYS = (
    'ip_list', 'full_ip_list', 'full_address_list', 'slap_software_type',
    'slave_instance_list', 'slap_computer_id', 'slap_computer_partition_id',
    'slap_software_release_url', 'timestamp', 'instance_title',
    'root_instance_title', 'root_instance_short_title',
)
# The key under which json-in-xml serialisation carries the parameters.
SERIALISED_KEY = '_'
# Keys of a shared instance's entry that describe it, not its request.
SHARED_KEYS = ('slave_reference', 'slave_title', 'slap_software_type',
               'timestamp')
# What stands for a secret in options.
SECRET_MARKER = '(secret, not recorded)'


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


def shared_instances(slave_instance_list):
    """[{reference, parameters}] of the shared instances attached to this
    partition, parameters as the master sent them (validated later, per
    shared instance, so that one bad request harms no other)."""
    return [{'reference': item['slave_reference'],
             'parameters': {k: v for k, v in item.items()
                            if k not in SHARED_KEYS}}
            for item in slave_instance_list]


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


def hide_secrets(parameters, names):
    """(parameters with each secret (`names`) replaced by SECRET_MARKER,
    {name: secret}).  An empty string (no secret) is left as it is; any other
    value is hidden, valid or not: the validation, which reads it back,
    refuses it without showing it."""
    shown, secrets = dict(parameters), {}
    for name in names:
        if name in shown and shown[name] != '':
            secrets[name] = shown[name]
            shown[name] = SECRET_MARKER
    return shown, secrets


def write_secrets(path, secrets):
    """Keep `secrets` ({name: value}) in `path`, for the partition's user
    only; rewritten only when they change."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.write_if_changed(
        path, json.dumps(secrets, sort_keys=True) + '\n', 0o600)


def read_secrets(path):
    """{name: value} of the secrets file at `path` ({} without one)."""
    return json.loads(files.read(path, '{}'))


def reveal(parameters, secrets_path, names):
    """`parameters` with each SECRET_MARKER of a secret (`names`) replaced
    by its secret, read from `secrets_path`.  ValueError with a sentence if
    one is missing."""
    secrets = read_secrets(secrets_path)
    revealed = dict(parameters)
    for name in names:
        if revealed.get(name) == SECRET_MARKER:
            if name not in secrets:
                raise ValueError(
                    '%r is hidden in the parameters but %s does not hold it:'
                    ' run the whole instance profile.' % (name, secrets_path))
            revealed[name] = secrets[name]
    return revealed
