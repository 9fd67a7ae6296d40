"""Files written whole or not at all: the one way this release writes a
file that something else may read meanwhile (a configuration, a CA file, a
status, a pid file).

write() puts the data in a temporary file of the same directory, with its
final mode from the start (a secret is never readable by others, not even
briefly), flushes it to disk and moves it in place at once; with
exclusive=True it never replaces an existing file (the CA: created once).
Pending: files a recipe decides on in __init__ and writes in install().
"""
import hashlib
import os


def fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path, data, mode=0o644, exclusive=False):
    """Write `data` (bytes or str) to `path` atomically, with `mode`.
    `exclusive`: FileExistsError if `path` exists (checked at the very
    moment it would be replaced)."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, '.%s.%s.tmp' % (
        os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, 'wb') as f:
            os.fchmod(f.fileno(), mode)  # whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if `path` appeared meanwhile
        else:
            os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    fsync_directory(directory)


def read(path, default=None, binary=False):
    """The content of `path`; `default` when there is no such file."""
    try:
        with open(path, 'rb' if binary else 'r') as f:
            return f.read()
    except FileNotFoundError:
        return default


def write_if_changed(path, data, mode=None):
    """Write `data` to `path` unless it already holds it; True if written.
    With `mode`, the file has that mode afterwards either way."""
    binary = isinstance(data, bytes)
    same = read(path, binary=binary) == data
    if not same:
        if mode is None:
            try:
                current = os.stat(path).st_mode & 0o7777
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                current = 0o666 & ~umask
        write(path, data, current if mode is None else mode)
    elif mode is not None and os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)
    return not same


def fingerprints(paths):
    """{path: sha256 hex digest of its content, or None if missing}."""
    found = {}
    for path in paths:
        try:
            found[path] = sha256(path)
        except FileNotFoundError:
            found[path] = None
    return found


def hexdigest(path, algorithm='sha256'):
    """The hex digest of the file at `path` (hashlib's `algorithm`)."""
    h = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def sha256(path):
    return hexdigest(path)


def digest_of(paths):
    """One digest of the contents of `paths`, in that order: changes when
    any of them does."""
    return hashlib.sha256(' '.join(
        hexdigest(path) for path in paths).encode()).hexdigest()


class Pending:
    """Files to write later: a recipe decides on them when buildout makes
    it (its __init__, which must not touch the disk: buildout makes every
    recipe of a run, also those it will not install) and writes them in
    install() (write_all).  Each one's folder is made (0700) if missing."""

    def __init__(self):
        self.files = []

    def new(self, path, data, mode=0o644):
        """`path`, created once: never replaced by other data
        (FileExistsError), left alone if it holds `data` already."""
        self.files.append((path, data, mode, True))

    def changed(self, path, data, mode=0o644):
        """`path`, written if it does not hold `data`."""
        self.files.append((path, data, mode, False))

    def write_all(self):
        for path, data, mode, once in self.files:
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700,
                        exist_ok=True)
            if not once:
                write_if_changed(path, data, mode)
                continue
            try:
                write(path, data, mode, exclusive=True)
            except FileExistsError:
                if read(path, binary=True) != (
                        data.encode() if isinstance(data, str) else data):
                    raise
