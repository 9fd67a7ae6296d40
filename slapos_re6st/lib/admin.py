"""Who may call re6st-registry's private RPCs (addToken, revoke, ...):
whoever reads the partition's admin secret, a file of mode 0600 made once
by the partition's user, that no one else (but root) reads.

re6st-registry 0.642 allows its private RPCs to any TCP peer of an
authorized address (127.0.0.1, ::1, the partition's IPv4), and any user
of the host may connect from those.  So the release's registry service
(service.registry) also asks, before re6st sees such a request, for the
header HEADER with that secret (compared in constant time); the
partition's tools (lib.client, bin/re6st-registry-admin) send it.  The
public forward drops the header and connects from an untrusted address:
no private RPC passes it, whatever a client sends.
"""
import hmac
import os
import secrets
import stat

from . import files

HEADER = 'X-Re6st-Admin'
# what a request to a private RPC without the secret is answered (one
# sentence, also the reason of the 403 status line)
REFUSED = ('Private RPC refused: send the header %s with the partition\'s'
           ' admin secret (bin/re6st-registry-admin does).' % HEADER)


class SecretError(Exception):
    """The secret file cannot be used: one sentence saying what to do."""


def make_secret(path):
    """The secret file at `path`, made once (0600, 32 random bytes as hex);
    an existing one is kept, whatever it holds.  True if made now."""
    if os.path.exists(path):
        return False
    try:
        files.write(path, secrets.token_hex(32) + '\n', 0o600,
                    exclusive=True)
    except FileExistsError:  # made meanwhile
        return False
    return True


def read_secret(path):
    """The secret in the file at `path`, checked: a regular file, open to
    its owner only, not empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise SecretError('The admin secret %s cannot be read (%s): run the'
                          ' instance again (it makes it), as the partition\'s'
                          ' user.' % (path, e.strerror))
    with os.fdopen(fd) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SecretError('The admin secret %s is not a regular file:'
                              ' remove it and run the instance again.' % path)
        if st.st_mode & 0o077:
            raise SecretError(
                'The admin secret %s is open to others than its owner (mode'
                ' %o): remove it and run the instance again (it makes a new'
                ' one, 0600).' % (path, st.st_mode & 0o7777))
        secret = f.read().strip()
    if not secret:
        raise SecretError('The admin secret %s is empty: remove it and run'
                          ' the instance again.' % path)
    return secret


def allowed(secret, value):
    """Whether the header's `value` (None when absent) is `secret`."""
    if value is None:
        return False
    return hmac.compare_digest(value.strip().encode('utf-8', 'replace'),
                               secret.encode())
