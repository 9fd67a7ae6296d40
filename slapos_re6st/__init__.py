"""Buildout recipes of the re6st registry software release.

One module per step of an instance run, in the order they happen:

  installed          fold what buildout appended to .installed.cfg
  slapconfiguration  read the partition (type, parameters, addresses)
  softwaretype       pick the parts of the requested software type (and
                     the optional ones the parameters enable)
  parameters         validate the request against instance-input-schema.json
  ca                 the network's CA key, certificate and DH parameters
  registry           the re6st-registry configuration file
  promise            promises that pass only when the registry answers
  service            re6st-service: runs each service, restarting it on a
                     crash or a change of its configuration
  tokens             the token manager service of shared "Re6st Token"
                     instances, and the recipe that writes its inputs
  backup             re6st-backup: the backups and their promise, the
                     rotation of the registry's log
  repository         each backup pushed to backup-repository (git)
  renew, restore     re6st-renew-ca and re6st-restore, for the operator
"""
