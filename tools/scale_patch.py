"""docs/re6stnet-0.642-scale.patch: the scale changes of the release's
adapter (slapos_re6st/lib/re6st_adapter.py: ScaledRegistryServer and the
listen backlog) written into re6stnet 0.642's own re6st/registry.py and
re6st/cli/registry.py, as a patch for upstream: the adapter's methods
replace re6st's, its helpers join them, made with `diff -u` against the
installed re6stnet, to apply with `patch -p1` in re6stnet's source tree.

  python -m tools.scale_patch            rewrite the patch (keeps its header)
  python -m tools.scale_patch --check    exit 1 if it is not up to date

test/unit/test_registry_scale.py checks that it applies and that the
patched re6st gives re6st's own results.
"""
import argparse
import ast
import os
import subprocess
import sys
import tempfile

import re6st

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATCH = os.path.join(TOP, 'docs', 're6stnet-0.642-scale.patch')
ADAPTER = os.path.join(TOP, 'slapos_re6st', 'lib', 're6st_adapter.py')
FILES = ('re6st/registry.py', 're6st/cli/registry.py')
# what precedes the diff in the patch file (patch ignores it)
SEPARATOR = '\n--- a/re6st/registry.py\n'


def ranges(src, cls):
    """{method: (first line, last line)} of class `cls` in `src`."""
    res = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for f in node.body:
                if isinstance(f, ast.FunctionDef):
                    start = min([d.lineno for d in f.decorator_list]
                                + [f.lineno])
                    res[f.name] = (start, f.end_lineno)
    return res


def _adapted(text):
    """A piece of the adapter as re6st's registry.py writes it."""
    for old, new in (('@registry.rpc_private', '@rpc_private'),
                     ('@registry.rpc', '@rpc'),
                     ('registry.HTTPError', 'HTTPError'),
                     ('datetime.datetime', 'datetime'),
                     ('Unusual', '_Unusual'), ('cert_fields', '_cert_fields')):
        text = text.replace(old, new)
    return text


CREATE_OLD = """\
        self.db.execute("UPDATE cert SET cert = ? WHERE prefix = ?",
                        (cert, client_prefix))
        self.timeout = 1"""
CREATE_NEW = """\
        self.db.execute("UPDATE cert SET cert = ? WHERE prefix = ?",
                        (cert, client_prefix))
        try:
            self._ready()
            self._set_cert(client_prefix, cert)
        except BaseException:
            self._forget()
            raise
        self.timeout = 1"""
CLASS_OLD = """\
class RegistryServer:

    peers = 0, ()"""
CLASS_NEW = """\
class RegistryServer:
    # What would cost a scan of every certificate under the global lock
    # (the smallest free subject serial, the next end of a certificate, the
    # free prefixes) is kept in memory: read from the database by the first
    # onTimeout (__init__), and again after anything fails midway.

    _state = None
    peers = 0, ()"""
IMPORT_OLD = "import base64, hmac, hashlib, http.client, inspect, json, logging"
IMPORT_NEW = ("import base64, binascii, calendar, heapq, hmac, hashlib,"
              " http.client, inspect, json, logging")
ERROR = """\
class HTTPError(Exception):
    pass
"""
SERVER_OLD = """\
    allow_reuse_address = True
    daemon_threads = True
"""
SERVER_NEW = """\
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default, 5, makes a 6th concurrent client wait for a
    # SYN retry (about 1 s)
    request_queue_size = 128
"""
# the adapter's methods that replace re6st's, and those added to it
REPLACED = ('getSubjectSerial', 'onTimeout', 'newPrefix', 'mergePrefixes',
            'requestCertificate', 'revoke')
ADDED = ('_load', '_ready', '_forget', '_serial_add', '_set_cert',
         '_set_free', '_rowid', '_next_end')


def patched(orig, adapter, cli):
    """(registry.py, cli/registry.py) of re6st with the changes."""
    alines = adapter.split('\n')
    arng = ranges(adapter, 'ScaledRegistryServer')

    def method(name):
        a, b = arng[name]
        return _adapted('\n'.join(alines[a - 1:b]))
    helpers = _adapted(adapter[adapter.index('_BEGIN = '):
                               adapter.index('class ScaledRegistryServer')])
    olines = orig.split('\n')
    replace = {name: method(name) for name in REPLACED}
    a, b = ranges(orig, 'RegistryServer')['createCertificate']
    create = '\n'.join(olines[a - 1:b])
    assert CREATE_OLD in create
    replace['createCertificate'] = create.replace(CREATE_OLD, CREATE_NEW)
    added = '\n\n'.join(method(name) for name in ADDED)
    starts = {a: (name, b) for name, (a, b)
              in ranges(orig, 'RegistryServer').items()}
    out = []
    i = 1
    while i <= len(olines):
        if i in starts:
            name, b = starts[i]
            if name == 'iterCert':
                out += [added, '']
            if name in replace:
                out.append(replace[name])
                i = b + 1
                continue
        out.append(olines[i - 1])
        i += 1
    new = '\n'.join(out)
    for old, text in ((CLASS_OLD, CLASS_NEW), (IMPORT_OLD, IMPORT_NEW),
                      (ERROR, ERROR + '\n\n' + helpers.rstrip() + '\n')):
        assert old in new
        new = new.replace(old, text, 1)
    assert SERVER_OLD in cli
    return new, cli.replace(SERVER_OLD, SERVER_NEW, 1)


def diff(site=None):
    """The diff of the installed re6st against itself with the changes."""
    site = site or os.path.dirname(os.path.dirname(re6st.__file__))
    with open(os.path.join(site, FILES[0])) as f:
        orig = f.read()
    with open(os.path.join(site, FILES[1])) as f:
        cli = f.read()
    with open(ADAPTER) as f:
        adapter = f.read()
    new = patched(orig, adapter, cli)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in zip(FILES, new):
            path = os.path.join(tmp, name.replace('/', '_'))
            with open(path, 'w') as f:
                f.write(text)
            result = subprocess.run(
                ['diff', '-u', '--label', 'a/' + name, '--label', 'b/' + name,
                 os.path.join(site, name), path],
                capture_output=True, text=True)
            out.append(result.stdout)
    return ''.join(out)


def header():
    """The patch file's text before the diff."""
    try:
        with open(PATCH) as f:
            return f.read().split(SEPARATOR, 1)[0] + '\n'
    except FileNotFoundError:
        return 'The scale changes for re6stnet 0.642.\n\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args()
    text = header() + diff()
    with open(PATCH) if os.path.exists(PATCH) else open(os.devnull) as f:
        current = f.read()
    if args.check:
        sys.exit(current != text)
    with open(PATCH, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
