"""re6st-registry-service @CONFIG: re6st-registry as the partition runs
it (slapos_re6st.service.registry)."""
import sys

from ..service.registry import run


def main(argv=None):
    run(sys.argv[1:] if argv is None else argv)
