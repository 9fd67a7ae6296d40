"""Helpers of the suites that run the release's code directly (unit, root,
netns, node): they may import slapos_re6st.  Never test modules.

support/babeld.py    a stand-in for Nexedi's patched babeld's socket
support/fakes.py     a fake master and registry for the token manager
support/host.py      make run/test as root drives them, for root suites
support/node.py      a Debian 11 SlapOS node in a chroot (make test-node)
support/old_release.py the partition of SlapOS's re6stnet release, made by its
                     cookbook recipe's own code (adoption tests)
support/partition.py a registry partition's files made by the release's code
support/profile.py   the instance profile's recipes under a fake buildout
support/promises.py  promise plugins of the release's modules
support/re6st.py     re6st-registry as the release runs it, from the checkout
support/slapos_node.py a SlapOS node's supervisord (slapos.core's code, root's)
                     running a partition of make run's embedded SlapOS
support/tarpit.py    servers that accept and never answer, or answer a byte a second

What the SlapOS-level suite uses too lives in harness/ (the test egg).
"""
import importlib.util
import os

from harness import (  # noqa: F401 (shared by every suite)
    PREFIX, SCHEMA_PATH, TEST, TOKEN_SCHEMA_PATH, TOP, read, until)


def build_module(name):
    """A module of build/ (the software build's own code, which is not a
    package: software.cfg puts the directory on sys.path)."""
    spec = importlib.util.spec_from_file_location(
        'build_' + name, os.path.join(TOP, 'build', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
