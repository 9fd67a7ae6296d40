"""re6st-registry-admin --registry URL --secret FILE METHOD [NAME=VALUE...]:
one RPC of the registry, private ones included, with the partition's admin
secret (lib.admin); the partition's bin/re6st-registry-admin runs it with
its registry and secret.  Prints the answer's body, if any."""
import argparse
import sys

from ..lib.client import Client, RegistryError
from . import setup_logging


def rpc_names():
    """(public RPCs, private RPCs) of re6st-registry, sorted."""
    from re6st.registry import RegistryServer
    public, private = [], []
    for name in dir(RegistryServer):
        method = getattr(RegistryServer, name)
        if hasattr(method, 'getcallargs'):
            (private if hasattr(method, '_private') else public).append(name)
    return public, private


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-registry-admin',
        description='Call one RPC of the re6st registry (addToken, revoke,'
        ' ...) with the partition\'s admin secret, e.g. `addToken'
        ' email=owner@example.com token=TOKEN`.')
    parser.add_argument('--registry', required=True,
                        help="the registry's own URL (re6stry-local-url)")
    parser.add_argument('--secret', required=True,
                        help="the partition's admin secret file")
    parser.add_argument('method', help='the RPC')
    parser.add_argument('arguments', nargs='*', metavar='NAME=VALUE')
    args = parser.parse_args(argv)
    setup_logging('re6st-registry-admin')
    public, private = rpc_names()
    if args.method not in public + private:
        print('re6st-registry-admin: %s is not an RPC of re6st-registry;'
              ' private ones: %s.' % (args.method, ', '.join(private)),
              file=sys.stderr)
        return 2
    kw = {}
    for argument in args.arguments:
        name, sep, value = argument.partition('=')
        if not sep or not name:
            print('re6st-registry-admin: %r is not NAME=VALUE: give each'
                  ' argument of %s as NAME=VALUE.' % (argument, args.method),
                  file=sys.stderr)
            return 2
        kw[name] = value
    try:
        body = Client(args.registry, args.secret).call(args.method, **kw)
    except TypeError:
        from re6st.registry import RegistryServer
        print('re6st-registry-admin: %s takes %s, not %s.' % (
            args.method, ' '.join('%s=...' % name for name in getattr(
                RegistryServer, args.method).getcallargs.__code__.co_varnames
            ) or 'no argument', ' '.join(sorted(kw)) or 'no argument'),
            file=sys.stderr)
        return 2
    except RegistryError as e:
        print('re6st-registry-admin: %s' % e, file=sys.stderr)
        return 1
    if body:
        sys.stdout.buffer.write(body if body.endswith(b'\n') else body + b'\n')
    return 0
