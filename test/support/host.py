"""For the suites run as root (test/root, test/netns): `make` as a user
runs it, the user the Makefile runs everything as, where its work
directory is; and whether getCa answers at a URL (any suite)."""
import json
import os
import pwd
import subprocess
import urllib.request

from . import TOP

USER = 'slapos-re6st'
MIRROR = '/var/lib/slapos-re6st/checkout'


def user_reads(path):
    return subprocess.run(['runuser', '-u', USER, '--', 'test', '-r', path],
                          ).returncode == 0


def checkout():
    """The checkout the user works on: this one, or tools/as-user's
    mirror of it."""
    return TOP if user_reads(os.path.join(TOP, 'software.cfg')) else MIRROR


def work():
    return os.path.join(checkout(), '.work')


def make(*args, timeout=1800, **env):
    """`make ARGS` in this checkout, as root, with `env`: the completed
    process (output as text)."""
    return subprocess.run(
        ['make', '--no-print-directory', '-C', TOP] + list(args),
        env=dict(os.environ, **env), capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL)


def last_json(result):
    """The JSON object on the last line of `make run`/`make token`."""
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def as_user(*command, user=USER, **kw):
    """`command` run as `user` (the completed process, output as text)."""
    return subprocess.run(['runuser', '-u', user, '--'] + list(command),
                          capture_output=True, text=True, **kw)


def uid(user=USER):
    return pwd.getpwnam(user).pw_uid


def registry_partition():
    """The partition of `make run`'s registry (its only one)."""
    return os.path.join(work(), 'slapos', 'inst', 'slappart0')


def answers(url):
    """Whether getCa answers at `url` now."""
    try:
        with urllib.request.urlopen(url + 'getCa', timeout=5) as r:
            return r.status == 200
    except OSError:
        return False
