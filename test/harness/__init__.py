"""The SlapOS-level suite's helpers: the test egg's own package
(slapos.test.re6st-registry), importable wherever SlapOS's test runner
installs the egg, with no checkout on sys.path: it imports nothing of the
release (slapos_re6st) nor of the checkout's tools.

harness/slapos.py     the release on slapos.core's embedded SlapOS
                      (slapos.testing), RegistryTestCase
harness/re6st.py      re6st's own programs and parsers as a node and an
                      operator see the registry (re6st-conf, RegistryClient,
                      re6st-registry's and re6stnet's option parsers)
harness/partition.py  reading a partition: PID files, processes, backups
harness/promises.py   promise plugins run as slapos node runs them
harness/git.py        git repositories and git's HTTP server (lighttpd)
harness/sshd.py       OpenSSH's sshd on loopback
harness/mmdb.py       tiny GeoIP2 databases
harness/parameters.py every network parameter away from its default
harness/tempdir.py    temporary directories for unit tests
harness/attack.py     the public side under load (tests and make bench)
harness/old_release.py a partition of SlapOS's own re6stnet release, made
                      by the pinned slapos.cookbook recipe's own code
"""
import os
import shutil
import time

TEST = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = os.path.dirname(TEST)
SCHEMA_PATH = os.path.join(TOP, 'instance-input-schema.json')
TOKEN_SCHEMA_PATH = os.path.join(TOP, 'instance-token-input-schema.json')
PREFIX = '2001:db8:42::/48'


def read(path, mode='r'):
    with open(path, mode) as f:
        return f.read()


def find_server(name):
    """The server program `name` (sshd, lighttpd) to run: the system's, or
    the one `make test` extracts from Debian's package into .work/<name>
    when the system has none; None."""
    for candidate in (shutil.which(name), '/usr/sbin/' + name,
                      os.path.join(TOP, '.work', name, 'usr', 'sbin', name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def wait_for(check, timeout, interval=0.5):
    """check()'s first true value, polled for at most `timeout` seconds
    (the last one if none is true)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(0, deadline - time.monotonic())))


def until(what, check, timeout=60, interval=0.5):
    """check()'s first true value, polled for at most `timeout` seconds;
    AssertionError naming `what` if it never comes."""
    value = wait_for(check, timeout, interval)
    if not value:
        raise AssertionError('%s: not within %s s' % (what, timeout))
    return value
