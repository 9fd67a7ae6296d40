"""Calls to re6st-registry's RPCs, with re6st's own client
(re6st.registry.RegistryClient).

RegistryClient answers a call with its body (bytes: b'' for "204 No
Content") and with None when the call failed, whatever the reason
(unreachable, refused, an error status); a 403 raises re6st's HTTPError.
Client turns both into RegistryError, with a sentence that never holds
the call's arguments (tokens are secrets).  RegistryClient logs failures
at INFO level on the root logger, with the URL and its arguments:
programs using it keep the root logger above INFO.

With `secret_file` (the partition's admin secret, lib.admin), every
request carries the secret in admin.HEADER: the registry service allows
the private RPCs (addToken, revoke, ...) with it only.  Never give it for
a URL other than the registry's own (re6stry-local-url).
"""


class RegistryError(Exception):
    """The registry did not answer as expected: retry later."""


class Client:

    def __init__(self, url, secret_file=None):
        from re6st.registry import RegistryClient
        self.url = url
        self._client = RegistryClient(url)
        self.secret_file = secret_file
        if secret_file:
            with_secret(self._client, '')

    def call(self, method, *args, **kw):
        """The body of the answer to `method`; RegistryError if none."""
        from re6st.registry import HTTPError
        if self.secret_file:
            from .admin import SecretError, read_secret
            try:  # at each call: a new secret needs no restart
                self._client.admin_secret[0] = read_secret(self.secret_file)
            except SecretError as e:
                raise RegistryError(str(e))
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


def with_secret(client, secret):
    """re6st's RegistryClient `client` sending `secret` in admin.HEADER
    with every request; `client.admin_secret[0]` may be changed later."""
    from .admin import HEADER
    conn = client._conn
    putrequest = conn.putrequest
    holder = [secret]

    def putrequest_with_secret(*args, **kw):
        putrequest(*args, **kw)
        conn.putheader(HEADER, holder[0])
    conn.putrequest = putrequest_with_secret
    client.admin_secret = holder
    return client
