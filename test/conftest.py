"""Shared by every test of the release.

test/unit/        the release's code without SlapOS, one file per module
                  (stand-ins where the real part is out of reach: a fake
                  master, a fake registry for the token manager's logic)
test/standalone/  the release on slapos.core's embedded SlapOS: real
                  buildout, supervisor, HAProxy, re6st-registry, re6st-conf
test/root/        as root: `make run` and `make token` as a user runs
                  them, and what another local user can see
test/netns/       as root, in a network namespace of its own: a real
                  re6stnet node as the registry's own node
test/node/        as root (`make test-node`): the release on a SlapOS node
                  as SlapOS's node packages make one (Debian 11, Python
                  3.9, slapos.core 1.22.1, zc.buildout 3.0.1)
test/support/     what they use: temporary directories, partitions, git and
                  ssh servers, the promise runner, the embedded SlapOS

Units run first (pytest.ini's testpaths): a broken module fails in seconds,
before the SlapOS suites build the software.  `make test` as root runs
root/ and netns/ too; node/ runs with `make test-node` only.
"""
