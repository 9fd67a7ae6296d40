"""The re6st registry software release: its recipes, services, commands
and checks.  One folder per role:

  recipe/   buildout-time only: the steps of the instance profile, in the
            order they happen: installed (fold .installed.cfg),
            slapconfiguration (read the partition), softwaretype (pick the
            parts), parameters (validate the request), ca (the network's
            CA), admin (the admin secret), registry (re6st-registry's
            configuration), tokens (the token manager's inputs), backup
            (re6st-backup's configuration)
  lib/      pure code shared by all (never imports recipe/ nor buildout)
  service/  re6st-service, which runs every service of the partition
  tokens/   re6st-token-manager, one token per shared token instance
  backup/   re6st-backup and re6st-restore: backups, backup-repository,
            the registry's log rotation
  promise/  the partition's promise plugin and the checks it runs
  cli/      the commands: a thin main() each

Runtime code (everything but recipe/) never imports recipe/ or zc.buildout
(test/unit/test_layout.py checks it).
"""
