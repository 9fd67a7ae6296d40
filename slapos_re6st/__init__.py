"""The re6st registry software release: its recipes, services, commands
and checks.  One folder per role (each package's docstring names its
modules; docs/design.md says why):

  recipe/   buildout-time only: the steps of the instance profile
  lib/      pure code shared by all (never imports recipe/ nor buildout)
  service/  how the partition runs its services: re6st-service and
            re6st-registry-service
  tokens/   re6st-token-manager, one token per shared token instance
  backup/   re6st-backup and re6st-restore: backups, backup-repository,
            the registry's log rotation
  promise/  the partition's promise plugins and the checks they run
  root/     what the host's root runs, copied once out of the release:
            re6st-host-node (the registry's own node, installed from the
            partition's data where only root writes)
  cli/      the commands: a thin main() each

Runtime code (everything but recipe/) never imports recipe/ or zc.buildout
(test/unit/test_layout.py checks it, and that every module is named).
"""
