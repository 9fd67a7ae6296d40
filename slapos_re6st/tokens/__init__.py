"""The token manager of shared "Re6st Token" instances.

  manager   the service's passes: register, watch, publish, drop
  requests  the shared instances the last instance run saw
  store     the manager's own database
  master    publishing on the shared instances
"""
