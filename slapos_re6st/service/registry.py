"""re6st-registry as the release runs it (re6st-registry-service): the
same program, its configuration file unchanged, with every change of
re6st's behaviour the release makes (slapos_re6st.lib.re6st_adapter:
hardened against outsiders, a cost per request that does not grow with the
number of nodes), on the re6stnet version the adapter was written for only.

And with --main-node DIR, before it first serves anyone: its first
certificate, which makes its main node, is the host node's of DIR
(lib.host_node.issue), never anybody else's.

And with --admin-secret FILE: a private RPC (addToken, revoke, versions,
...) is answered only to a request carrying the secret of FILE in the
header lib.admin.HEADER, whatever its address (re6st's own check of the
peer's address, authorized-origin, still applies); others get 403 with
one sentence (lib.admin.REFUSED), before re6st sees them
(re6st_adapter.serve).  FILE is read once, at start (the service watches
it); a file open to others is refused, with one sentence.
"""
import sys

from ..lib import admin, re6st_adapter

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
                         " is the registry's again: as root, run `%s` and"
                         " restart %s\n" % (
                             directory, host_node.start_command(directory),
                             host_node.unit_name(directory)))


def run(argv):
    """re6st-registry with `argv` (like ['@etc/re6st-registry.conf']);
    first, in any order: ['--main-node', DIR] (see ensure_main_node),
    ['--admin-secret', FILE] (see above).  Refuses to start (one sentence,
    exit 1) on another re6stnet than the adapter's."""
    try:
        re6st_adapter.check_version()
    except re6st_adapter.UnsupportedVersion as e:
        sys.exit('re6st-registry-service: %s' % e)
    own = {}
    while argv[:1] in (['--main-node'], ['--admin-secret']) and len(argv) > 1:
        own[argv[0]], argv = argv[1], argv[2:]
    secret = None
    if '--admin-secret' in own:
        try:
            secret = admin.read_secret(own['--admin-secret'])
        except admin.SecretError as e:
            sys.exit('re6st-registry-service: %s' % e)
    before_start = None
    if '--main-node' in own:
        directory = own['--main-node']

        def before_start(config):
            ensure_main_node(config, directory)
    re6st_adapter.serve(argv, before_start, admin_secret=secret)
