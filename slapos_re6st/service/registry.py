"""re6st-registry as the release runs it (re6st-registry-service): the
same program, its configuration file unchanged, with every change of
re6st's behaviour the release makes (slapos_re6st.lib.re6st_adapter:
hardened against outsiders, a cost per request that does not grow with the
number of nodes), on the re6stnet version the adapter was written for only.

And with --main-node DIR, before it first serves anyone: its first
certificate, which makes its main node, is the host node's of DIR
(lib.host_node.issue), never anybody else's.
"""
import sys

from ..lib import re6st_adapter

# what the registry records as the host node's owner
MAIN_NODE_EMAIL = 'host-node'


def ensure_main_node(config, directory):
    """The host node of `directory` made the main node of the registry of
    the configuration `config` (as re6st-registry parsed it), if the
    registry has none yet; its copy of the CA the registry's (after a
    restore or a renewal)."""
    from ..lib import host_node
    if host_node.main_node(config.db)[0] is None:
        name = host_node.issue(config, directory, MAIN_NODE_EMAIL)
        sys.stderr.write("re6st-registry-service: the host node (%s, %s)"
                         " is the registry's main node\n" % (name, directory))
    elif host_node.follow_ca(config, directory):
        sys.stderr.write("re6st-registry-service: the host node's CA (%s)"
                         " is the registry's again: restart the host node"
                         "\n" % directory)


def run(argv):
    """re6st-registry with `argv` (like ['@etc/re6st-registry.conf']);
    ['--main-node', DIR] first: see ensure_main_node.  Refuses to start
    (one sentence, exit 1) on another re6stnet than the adapter's."""
    try:
        re6st_adapter.check_version()
    except re6st_adapter.UnsupportedVersion as e:
        sys.exit('re6st-registry-service: %s' % e)
    before_start = None
    if argv[:1] == ['--main-node']:
        directory, argv = argv[1], argv[2:]

        def before_start(config):
            ensure_main_node(config, directory)
    re6st_adapter.serve(argv, before_start)
