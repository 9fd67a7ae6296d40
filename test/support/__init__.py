"""Helpers shared by the tests (never test modules themselves)."""
import os

TEST = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(TEST)
SCHEMA_PATH = os.path.join(TOP, 'instance-input-schema.json')
TOKEN_SCHEMA_PATH = os.path.join(TOP, 'instance-token-input-schema.json')
PREFIX = '2001:db8:42::/48'


def read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


def build_module(name):
    """A module of build/ (the software build's own code, which is not a
    package: software.cfg puts the directory on sys.path)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'build_' + name, os.path.join(TOP, 'build', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def until(what, check, timeout=60, interval=0.5):
    """check()'s first true value, polled for at most `timeout` seconds;
    AssertionError naming `what` if it never comes."""
    from slapos_re6st.lib.wait import wait_for
    value = wait_for(check, timeout, interval)
    if not value:
        raise AssertionError('%s: not within %s s' % (what, timeout))
    return value
