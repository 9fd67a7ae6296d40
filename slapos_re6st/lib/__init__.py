"""Code shared by every part of the release: recipes, services, commands
and checks.  It never imports buildout nor the recipes.

  files            files written whole or not at all (one atomic write)
  wait             the one bounded wait loop
  process          the services' PID files
  ca               the CA: key, certificate, DH, fingerprint, renewal
  slap             what the master says of a partition; request secrets
  validation       the request against instance-input-schema.json: the
                   steps below, in order
  strings          parameters sent as strings, read as the schema's
                   types; values as buildout option text
  schema           the request schemas: read, defaults, secrets
                   ("writeOnly"), errors
  sentences        one sentence per problem; secrets never shown
  registry_rules   the registry's rules the schema cannot say (between
                   parameters, against re6st and the host)
  community        the community file as re6st reads it, and its rules
  remote           the backup-repository value (URL, credentials)
  registry_config  re6st-registry's configuration: render and parse
  re6st_adapter    every change of re6st's behaviour the release makes
                   (parser, hardening, scale), pinned to one re6stnet
  client           re6st-registry's RPCs, through re6st's own client
  admin            the admin secret: who may call the private RPCs
  forward          the public side: HAProxy's configuration
  host_node        the registry's own re6st node: identity, status
  adoption         a registry of SlapOS's re6stnet release taken over
"""
