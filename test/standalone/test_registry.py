"""The registry on the embedded SlapOS: real buildout, supervisor, HAProxy,
re6st-registry and re6st-conf."""
import glob
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time

import jsonschema
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from slapos.slap.standalone import SlapOSNodeCommandError

from harness import TOP
from harness.re6st import prefix_serial
from harness.slapos import (  # noqa: F401 (setUpModule is run by unittest)
    PRIVATE_RPCS, WORKING_DIR, InstanceTestCase, RegistryTestCase, answers,
    connection, get, get_ca, params, service_pids, setUpModule, software_path,
    steady, tearDownModule)


class TestDefault(RegistryTestCase):
    """No parameter: every default from the schema."""

    def test_published_parameters_follow_the_output_schema(self):
        with open(os.path.join(TOP, 'instance-output-schema.json')) as f:
            jsonschema.validate(self.published, json.load(f))
        self.assertEqual(self.published['re6stry-url'], 'http://[::1]:9201/')

    def test_ca_is_the_default_network_and_matches_the_fingerprint(self):
        ca = get_ca(self.published['re6stry-url'])
        self.assertEqual(ca.serial_number, 0x120010db80042)
        self.assertEqual(ca.public_key().key_size, 2048)
        der = ca.public_bytes(serialization.Encoding.DER)
        self.assertEqual(self.published['ca-fingerprint'],
                         'sha256:' + hashlib.sha256(der).hexdigest())
        self.assertEqual(get_ca(self.published['re6stry-local-url']), ca)
        key = self.path('srv', 're6st-ca', 'ca.key')
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)

    def test_private_rpcs_refused_through_the_forward(self):
        url = self.published['re6stry-url']
        self.assertEqual(get(url + 'getCa')[0], 200)
        for method in PRIVATE_RPCS:
            for headers in ({}, {'X-Forwarded-For': '127.0.0.1'},
                            {'X-Forwarded-For': '::1'}):
                status, _ = get(url + method, headers)
                # HAProxy serves the public RPCs only; the registry would
                # refuse them anyway (the forward is an untrusted origin)
                self.assertIn(status, (403, 404), (method, headers))
        # the administration side does allow them
        status, _ = self.admin_get('isToken?token=nosuchtoken')
        self.assertIn(status, (200, 204))

    def test_node_joins_with_re6st_conf(self):
        self.add_token('joindefault')
        result, directory = self.join('joindefault')
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(directory, 'cert.crt'), 'rb') as f:
            cert = x509.load_pem_x509_certificate(f.read())
        ca = get_ca(self.published['re6stry-url'])
        cert.verify_directly_issued_by(ca)
        self.assertEqual(stat.S_IMODE(os.stat(
            os.path.join(directory, 'cert.key')).st_mode), 0o600)
        # a token works once
        result, _ = self.join('joindefault')
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('token', result.stdout + result.stderr)

    def test_unknown_token_refused(self):
        result, directory = self.join('neveradded')
        self.assertNotEqual(result.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(directory, 'cert.crt')))

    def test_services_run_under_the_partition_supervisor(self):
        processes = self.supervisor_processes()
        self.assertEqual(sorted(processes), [
            're6st-backup', 're6st-forward', 're6st-registry',
            're6st-token-manager'])
        for name, info in processes.items():
            self.assertEqual(info['statename'], 'RUNNING', name)

    def test_killed_services_come_back(self):
        url = self.published['re6stry-url']
        for name in 're6st-registry', 're6st-forward':
            before = service_pids(self.computer_partition_root_path)
            os.kill(before[name], signal.SIGKILL)
            start = time.monotonic()
            while True:
                after = service_pids(self.computer_partition_root_path)
                if after[name] != before[name] and answers(url):
                    break
                self.assertLess(time.monotonic() - start, 10, name)
                time.sleep(0.2)
            self.assertEqual({k: v for k, v in after.items() if k != name},
                             {k: v for k, v in before.items() if k != name})
        self.assertEqual(get_ca(url).serial_number, 0x120010db80042)

    def test_embedded_slapos_stopped_and_started_keeps_everything(self):
        url = self.published['re6stry-url']
        self.add_token('beforestop')
        ca = get_ca(url)
        self.slap.stop()
        self.assertFalse(answers(url))
        self.slap.start()
        self.waitForInstance()
        self.assertEqual(get_ca(url), ca)
        self.assertEqual(steady(connection(self.requestDefaultInstance())),
                         steady(self.published))
        status, body = self.admin_get('isToken?token=beforestop')
        self.assertEqual((status, body), (200, b'1'))

    def test_instance_rerun_keeps_ca_and_services(self):
        files = [self.path('srv', 're6st-ca', name)
                 for name in ('ca.key', 'ca.crt', 'dh.pem')]

        def state():
            content = []
            for path in files:
                with open(path, 'rb') as f:
                    content.append((f.read(), os.stat(path).st_mtime_ns))
            return content, service_pids(self.computer_partition_root_path)

        before = state()
        self.requestDefaultInstance()
        self.waitForInstance()
        self.assertEqual(state(), before)
        self.assertEqual(steady(connection(self.requestDefaultInstance())),
                         steady(self.published))

        # buildout's record of the partition does not grow run after run
        def record_size():
            with open(self.path('.installed.cfg')) as f:
                return len(f.read())
        self.waitForInstance()
        size = record_size()
        for _ in range(2):
            self.waitForInstance()
            self.assertEqual(record_size(), size)

    def test_instance_runs_with_only_the_release_eggs(self):
        """The rendered instance profile, run by a buildout whose Python path
        has zc.buildout and nothing else: every recipe egg must come from the
        release, as on a real SlapOS node."""
        import zc.buildout
        buildout_path = os.path.dirname(os.path.dirname(os.path.dirname(
            zc.buildout.__file__)))
        bare = [sys.executable, '-S', '-c',
                'import sys; sys.path[0:0] = %r; exec(sys.argv[1])'
                % [buildout_path]]
        for module in ('slapos.cookbook', 'slapos_re6st', 'cryptography',
                       'slapos.slap', 'jsonschema'):
            result = subprocess.run(bare + ['import ' + module],
                                    capture_output=True)
            self.assertNotEqual(result.returncode, 0,
                                '%s is importable: not a bare buildout' % module)
        result = subprocess.run(
            bare + ['from zc.buildout.buildout import main; '
                    'sys.argv[1:] = ["-c", "buildout.cfg"]; main()'],
            cwd=self.computer_partition_root_path,
            capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(get_ca(self.published['re6stry-url']).serial_number,
                         0x120010db80042)

    def test_slapos_runs_the_instance_with_the_release_eggs_only(self):
        """slapos node runs the partition's buildout as the release's
        bin/bootstrap-instance set it up (python -S): the recipes' eggs are
        the release's, as buildout records them (an egg of the release is
        named by its file; a package of the environment slapos runs in
        would be named by a hash of its directory)."""
        with open(self.path('sbin', 'buildout')) as f:
            self.assertTrue(f.readline().rstrip().endswith(' -S'))
        self.waitForInstance()
        with open(self.path('.installed.cfg')) as f:
            record = f.read()
        signatures = [line.split('=', 1)[1].split()
                      for line in record.splitlines()
                      if line.startswith('__buildout_signature__')]
        self.assertTrue(signatures)
        hashed = {re.sub('[._]', '-', dist[:-33])
                  for dists in signatures for dist in dists
                  if re.search('-[0-9a-f]{32}$', dist)}
        # develop eggs only: this release's recipes, and zc.buildout with
        # its own dependencies (what the buildout runs from)
        with open(os.path.join(TOP, 'tools', 'requirements-buildout.txt')) as f:
            beside_buildout = {re.sub('[._]', '-', line.split('==')[0].strip())
                               for line in f if '==' in line}
        self.assertIn('zc-buildout', beside_buildout)
        self.assertLessEqual(hashed, {'slapos-re6st'} | beside_buildout)
        # a binary egg of the release, named by its file
        crypto, = glob.glob(os.path.join(software_path(), 'eggs', '**',
                                         'cryptography-*.egg'),
                            recursive=True)
        self.assertTrue(any(os.path.basename(crypto) in dists
                            for dists in signatures))


class TestCustomNetwork(RegistryTestCase):
    """Every parameter of this release away from its default."""
    request = {'ipv6-prefix': '2001:db8:4200::/40', 'prefix-length': 24,
               'key-size': 3072, 'forward-ipv4': '127.0.0.1',
               'forward-port': 19201}

    def test_ca_carries_the_prefix_and_key_size(self):
        ca = get_ca(self.published['re6stry-url'])
        self.assertEqual(ca.serial_number, prefix_serial('2001:db8:4200::/40'))
        self.assertEqual(ca.public_key().key_size, 3072)
        self.assertEqual(self.published['re6stry-url'],
                         'http://[::1]:19201/')

    def test_ipv4_forward_answers_and_refuses_private_rpcs(self):
        url = 'http://127.0.0.1:19201/'
        self.assertEqual(get_ca(url), get_ca(self.published['re6stry-url']))
        for method in PRIVATE_RPCS:
            self.assertIn(get(url + method)[0], (403, 404), method)

    def test_node_gets_a_prefix_of_the_requested_length(self):
        self.add_token('joincustom')
        result, directory = self.join('joincustom', published=dict(
            self.published, **{'re6stry-url': 'http://127.0.0.1:19201/'}))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(directory, 'cert.crt'), 'rb') as f:
            cert = x509.load_pem_x509_certificate(f.read())
        cn = cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME)[0].value
        self.assertEqual(cn.split('/')[1], '24')


class TestInvalidRequests(RegistryTestCase):
    """Invalid requests fail the instance with a sentence naming what is
    wrong, and leave the running registry as it was."""

    def assertRefused(self, words, **request):
        ca_files = {name: os.stat(self.path('srv', 're6st-ca', name)).st_mtime_ns
                    for name in ('ca.key', 'ca.crt')}
        config = self.path('etc', 're6st-registry.conf')
        with open(config) as f:
            config_before = f.read()
        self.slap.request(
            self.getSoftwareURL(), self.default_partition_reference,
            request.pop('software_type', self.getInstanceSoftwareType()),
            partition_parameter_kw=params(**request))
        try:
            with self.assertRaises(SlapOSNodeCommandError) as e:
                self.instance_run(error_lines=100)
            for word in words:
                self.assertIn(word, str(e.exception))
            # the registry still runs, with its CA and configuration
            self.assertEqual(
                get_ca(self.published['re6stry-url']).serial_number,
                0x120010db80042)
            with open(config) as f:
                self.assertEqual(f.read(), config_before)
            self.assertEqual(ca_files, {
                name: os.stat(self.path('srv', 're6st-ca', name)).st_mtime_ns
                for name in ca_files})
        finally:
            self.requestDefaultInstance()
            self.waitForInstance()

    def test_out_of_range_and_unknown_parameters(self):
        self.assertRefused(["'prefix-length' is 200", "'key-size' is 1024",
                            "'color'"],
                           **{'prefix-length': 200, 'key-size': 1024,
                              'color': 'blue'})

    def test_prefix_without_room(self):
        self.assertRefused(["'prefix-length'", 'at most 8'],
                           **{'ipv6-prefix': '2001:db8::/120'})

    def test_changing_the_network_prefix_is_refused(self):
        self.assertRefused(['ipv6-prefix', '2001:db8:42::/48'],
                           **{'ipv6-prefix': '2001:db8:43::/48'})

    def test_unknown_software_type(self):
        self.assertRefused(["'frontend'"], software_type='frontend')


class TestBuildFromCheckoutPath(InstanceTestCase):
    """software.cfg read from a path (not an URL) finds its siblings, and a
    sibling that does not match buildout.hash.cfg stops the build."""
    request_instance = False
    partition_count = 0

    def build(self, top):
        directory = tempfile.mkdtemp(dir=WORKING_DIR)
        software = software_path()
        with open(os.path.join(directory, 'buildout.cfg'), 'w') as f:
            # reuse the eggs the embedded SlapOS built: no download
            f.write('[buildout]\nextends = %s\neggs-directory = %s\n'
                    % (os.path.join(top, 'software.cfg'),
                       os.path.join(software, 'eggs')))
        result = subprocess.run(
            [os.path.join(software, 'bin', 'buildout'), '-c', 'buildout.cfg'],
            cwd=directory, capture_output=True, text=True, timeout=600)
        return result, directory

    def test_builds_from_a_checkout_path(self):
        result, directory = self.build(TOP)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertTrue(os.path.exists(os.path.join(directory, 'instance.cfg')))
        with open(os.path.join(directory, 'parts', 'slapos_re6st', 'setup.py'),
                  'rb') as built, open(os.path.join(TOP, 'setup.py'), 'rb') as f:
            self.assertEqual(built.read(), f.read())

    def test_tampered_sibling_stops_the_build(self):
        import shutil
        top = tempfile.mkdtemp(dir=WORKING_DIR)
        for name in os.listdir(TOP):
            if not name.startswith('.'):
                source = os.path.join(TOP, name)
                (shutil.copytree if os.path.isdir(source) else shutil.copy)(
                    source, os.path.join(top, name))
        with open(os.path.join(top, 'instance.cfg.in'), 'a') as f:
            f.write('\n# tampered\n')
        result, _ = self.build(top)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('MD5', (result.stdout + result.stderr).upper())
