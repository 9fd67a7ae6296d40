"""Stand-ins for the token manager's logic tests: the registry and the
master as the manager sees them (the real ones: test/standalone)."""
from slapos_re6st.lib.client import RegistryError


class FakeRegistry:
    """Tokens and nodes as re6st-registry keeps them."""
    # http.server's limit of a request line (414 above)
    REQUEST_LINE = 65536

    def __init__(self):
        self.tokens = {}   # token -> email
        self.nodes = {}    # email -> prefix
        self.revoked = []
        self.refused = set()  # tokens whose addToken fails
        self.down = False
        self.calls = 0

    def _call(self):
        self.calls += 1
        if self.down:
            raise RegistryError('connection refused')

    def add_token(self, email, token):
        self._call()
        if len(email) > self.REQUEST_LINE - 100 or token in self.refused:
            raise RegistryError('addToken: no answer')  # 414, or other
        self.tokens.setdefault(token, email)

    def delete_token(self, token):
        self._call()
        self.tokens.pop(token, None)

    def is_token(self, token):
        self._call()
        return token in self.tokens

    def node_prefix(self, email):
        self._call()
        return self.nodes.get(email)

    def ipv6(self, email):
        self._call()
        return '2001:db8:42:%s::' % self.nodes[email].split('/')[0]

    def ipv4(self, email):
        return None

    def revoke(self, prefix):
        self._call()
        self.revoked.append(prefix)
        for email, p in list(self.nodes.items()):
            if p == prefix:
                del self.nodes[email]

    def answers(self):
        return not self.down

    def use(self, token, prefix):
        """A node joins with `token`."""
        self.nodes[self.tokens.pop(token)] = prefix


class FakeMaster:

    def __init__(self):
        self.published = {}
        self.plain = {}
        self.count = 0

    def publish(self, reference, parameters, plain=None):
        self.count += 1
        self.published[reference] = parameters
        self.plain[reference] = plain
