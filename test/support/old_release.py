"""A partition of SlapOS's re6stnet release (harness.old_release) whose
database is filled in-process by re6st's own RegistryServer, as its
registry and token manager would: for the unit tests of the adoption."""
import json
import os

from harness.old_release import (  # noqa: F401 (for the unit tests)
    OldPartition as _Base, digest_tree, read, write)
from slapos_re6st.lib import ca


class OldPartition(_Base):

    def server(self):
        """re6st's own RegistryServer on this partition's configuration
        (close() it)."""
        from re6st import registry
        from slapos_re6st.lib import registry_config
        return registry.RegistryServer(registry_config.parse(self.conf))

    def add_tokens(self):
        """The token manager's addToken of each .add file, and its
        TOKEN_ADDED status."""
        server = self.server()
        try:
            for name in sorted(os.listdir(self.token_dir)):
                reference, suffix = os.path.splitext(name)
                if suffix == '.add':
                    path = os.path.join(self.token_dir, name)
                    server.addToken('%s@slapos' % reference.lower(),
                                    read(path))
                    write(os.path.join(self.token_dir,
                                             reference + '.status'),
                                'TOKEN_ADDED')
                    os.unlink(path)
        finally:
            server.close()

    def use_token(self, reference, key_size=2048):
        """A node registered with the token of `reference` (as re6st-conf
        does, in-process): its certificate's common name."""
        token = json.loads(read(os.path.join(
            self.conf_dir, 'token.json')))[reference]
        key = ca.make_key(key_size)
        server = self.server()
        try:
            pem = server.requestCertificate(
                token, ca.certificate_request(key).decode())
        finally:
            server.close()
        write(os.path.join(self.token_dir, reference + '.status'),
                    'TOKEN_USED')
        from cryptography import x509
        cert = x509.load_pem_x509_certificate(pem)
        return cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value


