"""Shared by every test of the release.

test/unit/        the release's code without SlapOS, one file per module
                  (stand-ins where the real part is out of reach: a fake
                  master, a fake registry for the token manager's logic)
test/standalone/  the release on slapos.core's embedded SlapOS: real
                  buildout, supervisor, HAProxy, re6st-registry, re6st-conf
test/support/     what both use: temporary directories, partitions, git and
                  ssh servers, the promise runner, the embedded SlapOS

Units run first (pytest.ini's testpaths): a broken module fails in seconds,
before the SlapOS suites build the software.
"""
