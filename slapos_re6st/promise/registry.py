"""The registry answers: getCa, at the registry itself and through each
forward, with this partition's CA (not merely some registry listening at
that address).  Plain HTTP with the standard library: a check must say
why a call failed (refused, timed out, an HTTP status), which re6st's
client does not tell."""
import urllib.request

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


class RunPromise(CheckPromise):
    """Configuration: urls (whitespace separated), ca."""

    def check(self):
        return registry_answers(self.getConfig('urls').split(),
                                self.getConfig('ca'))
