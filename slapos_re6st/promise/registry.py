"""The registry runs with its current configuration, and answers: getCa,
at the registry itself and through each forward, with this partition's CA
(not merely some registry listening at that address).  Plain HTTP with the
standard library: a check must say why a call failed (refused, timed out,
an HTTP status), which re6st's client does not tell."""
import os
import urllib.request

from ..lib import files, process
from ..lib.process import process_of

from .base import CheckPromise

TIMEOUT = 5


def registry_answers(urls, ca_path):
    """(True, ...) when the registry answers getCa with the CA certificate
    in `ca_path` at each of `urls` (itself and its forwards, each ending
    with /); (False, what is wrong at each that does not) otherwise."""
    with open(ca_path, 'rb') as f:
        expected = b''.join(f.read().split())
    wrong = []
    for url in urls:
        try:
            with urllib.request.urlopen(url + 'getCa', timeout=TIMEOUT) as r:
                body = r.read()
        except Exception as e:
            wrong.append('%sgetCa failed: %s.' % (url, e))
            continue
        if b''.join(body.split()) != expected:
            wrong.append('%sgetCa answers another CA than %s: is another'
                         ' registry using this address?' % (url, ca_path))
    if wrong:
        return False, ' '.join(wrong)
    return True, 'getCa answers the CA of this partition at %s' % (
        ', '.join(urls))


def runs_current(pidfile, paths):
    """(True, ...) when the service of `pidfile` (as re6st-service writes
    it) runs and was started with the files `paths` as they are now (its
    configuration, the CA: it is restarted when they change); (False,
    why) otherwise: a change not taken yet, or a service failing to start
    with it."""
    pid = process_of(pidfile)
    name = os.path.basename(pidfile)[:-len('.pid')]
    if pid is None:
        return False, ('%s is not running: its output log'
                       ' (.<partition>_%s.log in the partition) says why.'
                       % (name, name))
    started_with = process.started_with(pidfile) or {}
    now = files.fingerprints(paths)

    def changed(path):
        if path in started_with:
            return started_with[path] != now[path]
        # a PID file that does not say (written by an older re6st-service)
        return now[path] is not None and (
            os.stat(path).st_mtime > os.stat(pidfile).st_mtime)
    newer = [path for path in paths if changed(path)]
    if newer:
        return False, ('%s runs with an older %s: it is being restarted'
                       ' with the new one (or fails to start with it: see'
                       ' its output log).' % (name, ', '.join(newer)))
    return True, '%s runs with its current configuration.' % name


class RunPromise(CheckPromise):
    """Configuration: urls (whitespace separated), ca; pidfile and files
    (whitespace separated): the registry's PID file and what it runs
    with."""

    def check(self):
        ok, message = runs_current(self.getConfig('pidfile'),
                                   self.getConfig('files').split())
        if not ok:
            return ok, message
        return registry_answers(self.getConfig('urls').split(),
                                self.getConfig('ca'))
