"""The release's commands: each main() parses its arguments, sets logging
up and calls one function of the package.  Nothing else lives here.

  service        re6st-service (service.launcher)
  registry       re6st-registry-service (service.registry)
  token_manager  re6st-token-manager (tokens.manager)
  backup         re6st-backup (backup.loop, backup.snapshot)
  restore        re6st-restore (backup.restore)
  renew_ca       re6st-renew-ca (lib.ca)
  admin          re6st-registry-admin: one private RPC (lib.admin)
"""
import json
import logging
import sys


def setup_logging(name):
    """Messages of the logger `name` from INFO up, on standard error (the
    service's output log); other loggers from WARNING up only (re6st's
    client logs its failed calls, with their arguments, at INFO)."""
    logging.basicConfig(level=logging.WARNING,
                        format='%(asctime)s %(levelname)s %(message)s')
    logging.getLogger(name).setLevel(logging.INFO)


def load_json(path, command):
    """The JSON file at `path`; exits with a sentence naming `command` if
    it cannot be read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print('%s: cannot read %s: %s' % (command, path, e), file=sys.stderr)
        raise SystemExit(1)
