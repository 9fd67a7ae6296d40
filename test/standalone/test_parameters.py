"""Every re6st-registry option as an instance parameter, on the embedded
SlapOS: the registry runs with them and serves them to the nodes, a changed
parameter restarts the registry and nothing else, email registration is
off unless asked for, the SMTP password is recorded nowhere but in the
registry's own configuration, and re6st-renew-ca moves a network to another
prefix.

Each class uses its own forward-port (19301+), away from test_registry's.
"""
import json
import mailbox
import os
import re
import secrets
import stat
import subprocess
import tempfile
import zlib

from cryptography import x509
from slapos.slap.standalone import SlapOSNodeCommandError

from harness import until
from harness.mmdb import empty_country_mmdb
from harness.parameters import NETWORK, PARSED, parsed_values
from harness.re6st import (fingerprint, node_client, node_prefix,
                           prefix_serial, registry_config, run_conf)
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    WORKING_DIR, RegistryTestCase, answers, connection, get, get_ca,
    log_directory, params, setUpModule, software_path, steady,
    tearDownModule)

# A password with what quoting could get wrong, different on every run.
PASSWORD = 'pw %s "#$\'%%' % secrets.token_hex(12)


def network_config(registry_url, directory):
    """What the registry tells a node of the network: getNetworkConfig,
    authenticated with the node's certificate as re6stnet does."""
    client, cert = node_client(registry_url, directory)
    return json.loads(zlib.decompress(client.getNetworkConfig(cert.prefix)))


class ParametersTestCase(RegistryTestCase):

    def config_path(self):
        return self.path('etc', 're6st-registry.conf')

    def read_config(self):
        return registry_config(self.config_path())

    def ca_state(self):
        state = {}
        for name in 'ca.key', 'ca.crt', 'dh.pem':
            path = self.path('srv', 're6st-ca', name)
            with open(path, 'rb') as f:
                state[name] = f.read(), os.stat(path).st_mtime_ns
        return state

    def assertOnlyRegistryRestarted(self, before, after):
        self.assertEqual(sorted(before), sorted(after))
        self.assertNotEqual(before['re6st-registry'], after['re6st-registry'])
        for name in before:
            if name != 're6st-registry':
                self.assertEqual(before[name], after[name], name)
        for name, info in self.supervisor_processes().items():
            self.assertEqual(info['statename'], 'RUNNING', name)


class TestEveryParameter(ParametersTestCase):
    """Every new parameter away from its default."""

    @classmethod
    def files(cls):
        directory = os.path.join(WORKING_DIR, 'every-parameter')
        return (directory, os.path.join(directory, 'tokens.mbox'),
                os.path.join(directory, 'country.mmdb'))

    @classmethod
    def setUpClass(cls):
        # the request names these files: they must exist (the database) or
        # be creatable (the mailbox) before it is validated
        directory, mbox, mmdb = cls.files()
        os.makedirs(directory, exist_ok=True)
        if os.path.exists(mbox):
            os.remove(mbox)
        empty_country_mmdb(mmdb)
        super().setUpClass()

    @classmethod
    def getInstanceParameterDict(cls):
        _, mbox, mmdb = cls.files()
        cls.request = dict(NETWORK, **{
            'ipv6-prefix': '2001:db8:4300::/40', 'forward-port': 19301,
            'mailhost': mbox, 'geoip2-mmdb': mmdb,
            'community': '# test communities\n0 *\n1 FR DE\n'})
        return params(**cls.request)

    def test_configuration_as_re6st_reads_it(self):
        _, mbox, mmdb = self.files()
        config = self.read_config()
        self.assertEqual(parsed_values(config), PARSED)
        self.assertEqual(config.mailhost, mbox)
        self.assertIsNone(config.smtp_pwd)
        self.assertEqual(config.community,
                         self.path('etc', 're6st-registry-community.conf'))
        with open(config.community) as f:
            self.assertEqual(f.read(), '# test communities\n0 *\n1 FR DE\n')
        self.assertEqual(stat.S_IMODE(os.stat(self.config_path()).st_mode),
                         0o600)

    def test_registry_runs_with_the_geoip2_database(self):
        _, _, mmdb = self.files()
        processes = self.supervisor_processes()
        self.assertEqual(processes['re6st-registry']['statename'], 'RUNNING')
        with open('/proc/%s/environ' % self.pids()['re6st-registry'],
                  'rb') as f:
            environ = f.read().split(b'\0')
        self.assertIn(b'GEOIP2_MMDB=' + mmdb.encode(), environ)
        # same-country without a database would have stopped it at start
        self.assertEqual(get_ca(self.published['re6stry-url']).serial_number,
                         prefix_serial('2001:db8:4300::/40'))

    def test_nodes_get_the_network_configuration(self):
        directory = self.join_node('everyparam')
        config = network_config(self.published['re6stry-url'], directory)
        expected = {
            'client_count': 4, 'max_clients': 12, 'tunnel_refresh': 120,
            'hello': 30, 'min_protocol': 7, 'encrypt': True,
            'same_country': ['FR', 'DE'], 'ipv4': '10.42.0.0/16',
            'ipv4_sublen': 24}
        self.assertEqual({k: config.get(k) for k in expected}, expected)

    def test_communities_and_prefix_lengths(self):
        # located by the registry: nowhere known, hence the default (*)
        bits, length = node_prefix(self.join_node('communitydefault'))
        self.assertEqual((bits[0], length), ('0', 21))
        # located by the node: France, community 1
        bits, length = node_prefix(self.join_node(
            'communityfrance', '--location', 'FR,EU'))
        self.assertEqual((bits[0], length), ('1', 21))
        # anonymous: anonymous-prefix-length bits, in the default community
        directory = tempfile.mkdtemp(dir=self.tmp)
        result = run_conf(self.published['re6stry-url'], directory,
                          '--fingerprint', self.published['ca-fingerprint'],
                          '--anonymous')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        bits, length = node_prefix(directory)
        self.assertEqual((bits[0], length), ('0', 25))

    def test_email_registration_writes_to_the_mailbox(self):
        _, mbox, _ = self.files()
        status, body = get(self.published['re6stry-url']
                           + 'requestToken?email=node%40example.com')
        self.assertIn(status, (200, 204), body)
        box = mailbox.mbox(mbox)
        try:
            messages = [m for m in box if m['To'] == 'node@example.com']
        finally:
            box.close()
        self.assertEqual(len(messages), 1)
        token = re.search(r'is: (\w+)', messages[0].get_payload()).group(1)
        # the mailed token works
        directory = tempfile.mkdtemp(dir=self.tmp)
        result = run_conf(self.published['re6stry-url'], directory,
                          '--fingerprint', self.published['ca-fingerprint'],
                          '--token', token)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class TestDefaults(ParametersTestCase):
    """No new parameter: email and anonymous registration are off; one
    changed parameter restarts the registry, and nothing else."""
    request = {'forward-port': 19321}

    def test_email_registration_is_off(self):
        for url in (self.published['re6stry-url'],
                    self.published['re6stry-local-url']):
            status, _ = get(url + 'requestToken?email=x%40example.com')
            self.assertFalse(200 <= status < 300, (url, status))
        self.assertIsNone(self.read_config().mailhost)
        with open(self.config_path()) as f:
            self.assertNotIn('mailhost', f.read())

    def test_anonymous_registration_is_off(self):
        directory = tempfile.mkdtemp(dir=self.tmp)
        result = run_conf(self.published['re6stry-url'], directory,
                          '--fingerprint', self.published['ca-fingerprint'],
                          '--anonymous')
        self.assertNotEqual(result.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(directory, 'cert.crt')))

    def test_one_changed_parameter_restarts_only_the_registry(self):
        node = self.join_node('changehello')
        self.assertEqual(
            network_config(self.published['re6stry-url'], node)['hello'], 15)
        pids, ca, published = self.pids(), self.ca_state(), self.published
        with open(self.config_path()) as f:
            config_before = f.read().splitlines()
        try:
            partition = self.request_with(hello=45)
            self.assertOnlyRegistryRestarted(pids, self.pids())
            self.assertEqual(self.ca_state(), ca)
            self.assertEqual(steady(connection(partition)), steady(published))
            with open(self.config_path()) as f:
                config_after = f.read().splitlines()
            self.assertEqual(
                [line for line in config_before if line not in config_after],
                ['hello 15'])
            self.assertEqual(
                [line for line in config_after if line not in config_before],
                ['hello 45'])
            self.assertEqual(self.read_config().hello, 45)
            # the nodes are told
            self.assertEqual(
                network_config(self.published['re6stry-url'], node)['hello'],
                45)
            # the same request again changes nothing
            pids = self.pids()
            self.request_with(hello=45)
            self.assertEqual(self.pids(), pids)
        finally:
            self.restore_request()
        self.assertEqual(self.read_config().hello, 15)


class TestSmtpPassword(ParametersTestCase):
    """The SMTP password reaches the registry, and nothing else: not
    buildout's .installed.cfg, not the published values, not the logs."""
    request = {'forward-port': 19311, 'mailhost': 'smtp.example.com:2525',
               'smtp-user': 'registry', 'smtp-password': PASSWORD,
               'smtp-starttls': True}

    def secret_file(self):
        return self.path('etc', 're6st-registry-smtp.conf')

    def assertRecordedNowhere(self, secret):
        """Not in what buildout and the services wrote in the partition
        (but the secret file), nor in slapos node's log of the instance
        runs, the published values or the registry's command line.  (The
        master, here slapos proxy's database, has the request, of
        course.)"""
        secret = secret.encode()
        installed = self.path('.installed.cfg')
        self.assertTrue(os.path.exists(installed))
        top = str(self.computer_partition_root_path)
        for directory, dirs, files in os.walk(top):
            if directory == top:
                # slapos' own files (.slapgrid*, .timestamp, ...) aside
                dirs[:] = [d for d in dirs if not d.startswith('.')]
                files = [f for f in files
                         if f == '.installed.cfg' or not f.startswith('.')]
            for name in files:
                path = os.path.join(directory, name)
                if path == self.secret_file() or not os.path.isfile(path) \
                        or os.path.islink(path):
                    continue
                with open(path, 'rb') as f:
                    self.assertNotIn(secret, f.read(), path)
        log = os.path.join(log_directory(self.slap),
                           'slapos-node-instance.log')
        if os.path.exists(log):
            with open(log, 'rb') as f:
                self.assertNotIn(secret, f.read(), log)
        self.assertNotIn(secret, json.dumps(self.published).encode())
        pid = self.pids()['re6st-registry']
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            self.assertNotIn(secret, f.read())

    def test_password_reaches_the_registry_only(self):
        config = self.read_config()
        self.assertEqual(config.mailhost, 'smtp.example.com:2525')
        self.assertEqual(config.smtp_user, 'registry')
        self.assertEqual(config.smtp_pwd, PASSWORD)
        self.assertTrue(config.smtp_starttls)
        for path in self.secret_file(), self.config_path():
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        self.assertRecordedNowhere(PASSWORD)

    def test_new_password_restarts_only_the_registry(self):
        new = PASSWORD + '-new'
        pids, ca = self.pids(), self.ca_state()
        try:
            self.request_with(**{'smtp-password': new})
            self.assertOnlyRegistryRestarted(pids, self.pids())
            self.assertEqual(self.ca_state(), ca)
            self.assertEqual(self.read_config().smtp_pwd, new)
            self.assertRecordedNowhere(new)
            self.assertRecordedNowhere(PASSWORD)
        finally:
            self.restore_request()
        self.assertEqual(self.read_config().smtp_pwd, PASSWORD)

    def test_no_mailhost_no_secret_left(self):
        try:
            self.request_with(**{'mailhost': '', 'smtp-user': '',
                                 'smtp-password': '', 'smtp-starttls': False})
            self.assertFalse(os.path.exists(self.secret_file()))
            config = self.read_config()
            self.assertIsNone(config.mailhost)
            self.assertIsNone(config.smtp_pwd)
        finally:
            self.restore_request()
        self.assertEqual(self.read_config().smtp_pwd, PASSWORD)

    def test_refused_request_does_not_show_it(self):
        self.slap.request(
            self.getSoftwareURL(), self.default_partition_reference,
            self.getInstanceSoftwareType(),
            partition_parameter_kw=params(**dict(self.request, mailhost='')))
        try:
            with self.assertRaises(SlapOSNodeCommandError) as e:
                self.instance_run(error_lines=100)
            self.assertIn("'smtp-password' is (not shown)", str(e.exception))
            self.assertNotIn(PASSWORD, str(e.exception))
            # still running with it
            self.assertEqual(self.read_config().smtp_pwd, PASSWORD)
        finally:
            self.restore_request()
        self.assertRecordedNowhere(PASSWORD)


class TestRenewCA(ParametersTestCase):
    """Another ipv6-prefix is refused with the way to renew the CA; after
    re6st-renew-ca, the network moves to it with the same key, and the
    nodes' certificates stay valid."""
    old = '2001:db8:44::/48'
    new = '2001:db8:45::/48'
    request = {'forward-port': 19331, 'ipv6-prefix': old}

    def test_renewal_to_another_prefix(self):
        node = self.join_node('beforerenewal')
        key_path = self.path('srv', 're6st-ca', 'ca.key')
        cert_path = self.path('srv', 're6st-ca', 'ca.crt')
        with open(cert_path, 'rb') as f:
            old_pem = f.read()
        old_ca = x509.load_pem_x509_certificate(old_pem)
        renew_ca = os.path.join(software_path(), 'bin', 're6st-renew-ca')

        # asked without renewing: refused, with the command to run
        self.slap.request(
            self.getSoftwareURL(), self.default_partition_reference,
            self.getInstanceSoftwareType(),
            partition_parameter_kw=params(**dict(self.request,
                                                 **{'ipv6-prefix': self.new})))
        with self.assertRaises(SlapOSNodeCommandError) as e:
            self.instance_run(error_lines=100)
        message = ' '.join(str(e.exception).split())
        for words in ('/bin/re6st-renew-ca --key ',
                      '/srv/re6st-ca/ca.key --cert ',
                      '/srv/re6st-ca/ca.crt --prefix %s' % self.new,
                      'request ipv6-prefix %s to keep it' % self.old):
            self.assertIn(words, message)
        self.restore_request()

        # renewed: the registry restarts with it at once; then asked
        pids = self.pids()
        result = subprocess.run(
            [renew_ca, '--key', key_path, '--cert', cert_path,
             '--prefix', self.new], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        backups = [name for name in os.listdir(os.path.dirname(cert_path))
                   if name.startswith('ca.crt.') and name.endswith('.old')]
        self.assertEqual(len(backups), 1)
        with open(os.path.join(os.path.dirname(cert_path), backups[0]),
                  'rb') as f:
            self.assertEqual(f.read(), old_pem)
        until('the renewed CA served', lambda: answers(
            self.published['re6stry-url']) and get_ca(
                self.published['re6stry-url']).serial_number
            == prefix_serial(self.new))
        partition = self.request_with(**{'ipv6-prefix': self.new})
        # the registry serves the new certificate: same name and key
        new_ca = get_ca(self.published['re6stry-url'])
        self.assertEqual(new_ca.serial_number, prefix_serial(self.new))
        self.assertEqual(new_ca.subject, old_ca.subject)
        self.assertEqual(new_ca.public_key().public_numbers(),
                         old_ca.public_key().public_numbers())
        self.assertEqual(connection(partition)['ca-fingerprint'],
                         fingerprint(new_ca))
        after = self.pids()
        self.assertNotEqual(pids['re6st-registry'], after['re6st-registry'])
        self.assertEqual(pids['re6st-forward'],
                         after['re6st-forward'])
        # a node of the old prefix stays valid under the new certificate
        with open(os.path.join(node, 'cert.crt'), 'rb') as f:
            x509.load_pem_x509_certificate(f.read()) \
                .verify_directly_issued_by(new_ca)
