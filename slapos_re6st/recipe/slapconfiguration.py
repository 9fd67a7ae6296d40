"""Read the partition from the SlapOS master: software type, parameters,
addresses, shared instances.

slapos.cookbook's slapconfiguration recipes store sets and dicts as option
values, which PyPI's zc.buildout refuses ("Option values must be strings"):
this one publishes only strings.

Secrets of the request (the parameters that `schema`, the request schema,
marks "writeOnly") never become option values: buildout records every option of every part in .installed.cfg.
Each is replaced by lib.slap.SECRET_MARKER in `parameters`, and the values
are written to `secrets-file` (mode 0600), where the recipes that need
them read them (lib.slap.reveal).
"""
import json

import zc.buildout

from ..lib import slap as slap_values
from ..lib.schema import load_schema, secret_parameters
from . import NoInstall, require


class Recipe(NoInstall):
    """Options: url, computer, partition, key, cert (from
    [slap-connection]), secrets-file, schema (the request schema).  Sets: software-type, parameters (one
    JSON object, secrets replaced by SECRET_MARKER), ipv4, ipv6,
    instance-state, shared-instances (JSON list, see
    lib.slap.shared_instances)."""

    def __init__(self, buildout, name, options):
        from slapos import slap
        require(name, options, 'url', 'computer', 'partition', 'secrets-file',
                'schema')
        secrets = secret_parameters(load_schema(options['schema']))
        connection = slap.slap()
        connection.initializeConnection(
            options['url'], options.get('key') or None,
            options.get('cert') or None)
        partition = connection.registerComputerPartition(
            options['computer'], options['partition'])
        parameter_dict = partition.getInstanceParameterDict()
        try:
            parameters = slap_values.request_parameters(parameter_dict)
        except ValueError as e:
            raise zc.buildout.UserError(str(e))
        parameters, secrets = slap_values.hide_secrets(parameters, secrets)
        slap_values.write_secrets(options['secrets-file'], secrets)
        options['parameters'] = json.dumps(parameters, sort_keys=True)
        options['software-type'] = (
            parameter_dict.get('slap_software_type') or '')
        options['ipv4'], options['ipv6'] = slap_values.partition_addresses(
            parameter_dict.get('ip_list') or ())
        options['instance-state'] = partition.getState() or ''
        options['shared-instances'] = json.dumps(
            slap_values.shared_instances(
                parameter_dict.get('slave_instance_list') or ()),
            sort_keys=True)
