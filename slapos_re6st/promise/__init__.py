"""The partition's promises, one slapos promise plugin module each:

  base         what every plugin is, and how slapos node runs them
  registry     getCa answers with this partition's CA, at the registry and
               through each forward
  backup       the backups are recent and the last one did not fail
  ca_lifetime  the CA certificate does not end within warn-days days
  host_node    the registry's own node runs and is its main node
               (monitoring only: an anomaly)
"""
