"""re6st-token-manager CONFIG: the service of the shared "Re6st Token"
instances (slapos_re6st.tokens.manager)."""
import argparse

from ..tokens.manager import Manager, Registry, run
from ..tokens.master import Master
from ..tokens.store import Store
from . import load_json, setup_logging


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='re6st-token-manager',
        description='One registry token per shared "Re6st Token" instance.')
    parser.add_argument('config', help='configuration file (JSON), written'
                        ' by the token-manager recipe')
    parser.add_argument('--period', type=float, default=1.0)
    args = parser.parse_args(argv)
    setup_logging('re6st-token-manager')
    config = load_json(args.config, 're6st-token-manager')
    schema = load_json(config['schema'], 're6st-token-manager')
    manager = Manager(
        config, Registry(config['registry-url'], config.get('admin-secret')),
        Master(config['master-url'], config['computer'], config['partition'],
               config.get('key'), config.get('cert')),
        Store(config['state-file']), schema)
    run(config, manager, args.period)
