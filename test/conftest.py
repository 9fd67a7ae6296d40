"""Shared by every pytest suite of the release (make test).

test/unit/        the release's code without SlapOS, one file per module
                  (stand-ins where the real part is out of reach: a fake
                  master, a fake registry for the token manager's logic)
test/root/        as root: `make run` and `make token` as a user runs
                  them, and what another local user can see or call
test/netns/       as root, in a network namespace of its own: a real
                  re6stnet node as the registry's own node
test/node/        as root (`make test-node`): the release on a SlapOS node
                  as SlapOS's node packages make one (Debian 11, Python
                  3.9, slapos.core 1.22.1, zc.buildout 3.0.1)
test/standalone/  the SlapOS-level suite: the release on slapos.core's
                  embedded SlapOS (real buildout, supervisor, HAProxy,
                  re6st-registry, re6st-conf), run as SlapOS's runner runs
                  it (python -m unittest discover in test/, tools/sr-test)
test/harness/     the SlapOS-level suite's helpers (the test egg's package,
                  setup.py): nothing of slapos_re6st nor tools
test/support/     the other suites' helpers (may use slapos_re6st)

Units run first (make test): a broken module fails in seconds, before the
SlapOS suite builds the software.  `make test` as root runs root/ and
netns/ too; node/ runs with `make test-node` only.  Under CI (CI set), a
skipped test is a failure: CI installs everything every test needs.
"""
import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get('CI') and report.skipped and call.when != 'teardown':
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        report.outcome = 'failed'
        report.longrepr = 'skipped under CI, which must run it: %s' % reason
