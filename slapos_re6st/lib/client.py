"""Calls to re6st-registry's RPCs, with re6st's own client
(re6st.registry.RegistryClient).

RegistryClient answers a call with its body (bytes: b'' for "204 No
Content") and with None when the call failed, whatever the reason
(unreachable, refused, an error status); a 403 raises re6st's HTTPError.
Client turns both into RegistryError, with a sentence that never holds
the call's arguments (tokens are secrets).  RegistryClient logs failures
at INFO level on the root logger, with the URL and its arguments:
programs using it keep the root logger above INFO.
"""


class RegistryError(Exception):
    """The registry did not answer as expected: retry later."""


class Client:

    def __init__(self, url):
        from re6st.registry import RegistryClient
        self.url = url
        self._client = RegistryClient(url)

    def call(self, method, *args, **kw):
        """The body of the answer to `method`; RegistryError if none."""
        from re6st.registry import HTTPError
        try:
            body = getattr(self._client, method)(*args, **kw)
        except HTTPError as e:
            raise RegistryError('%s%s was refused (%s)' % (
                self.url, method, ' '.join(map(str, e.args))))
        if body is None:
            raise RegistryError(
                '%s%s: no answer (the registry is down, or answered with an'
                ' error)' % (self.url, method))
        return body

    def maybe(self, method, *args, **kw):
        """The body, or None when the call failed."""
        try:
            return self.call(method, *args, **kw)
        except RegistryError:
            return None
