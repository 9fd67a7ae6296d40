"""The partition's promises, one slapos promise plugin module each (see
base.py for how slapos node runs them):

  registry     getCa answers with this partition's CA, at the registry and
               through each forward
  backup       the backups are recent and the last one did not fail
  ca_lifetime  the CA certificate does not end within warn-days days
"""
