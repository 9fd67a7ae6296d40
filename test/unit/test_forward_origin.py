"""The public forward and where its clients come from: the real HAProxy
in front of the real re6st-registry on loopback.

- re6st-registry locates a node joining through the forward without
  --location by the client's own address (X-Forwarded-For set from
  HAProxy's `src`), with a GeoIP2 database placing 127.0.0.0/8 in FR;
- the `.slapos-port-redirect` the forward recipe writes, read by
  slapos.core's own portredir manager plugin (its instanceTearDown, with
  a stand-in for the partition object it is given: the supervisor of a
  SlapOS node is not run here), whose socat command is then run as it
  would be (as this user: ports >= 1024 need no root) and reaches the
  registry through the forward."""
import json
import os
import shutil
import subprocess
import unittest
from unittest import mock

from slapos_re6st.lib import files, forward
from slapos_re6st.lib.wait import wait_for
from slapos_re6st.recipe import forward as forward_recipe
from harness.mmdb import located_country_mmdb
from harness.re6st import node_prefix, run_conf
from support.host import answers
from support.re6st import RunningRegistry, free_port
from harness.tempdir import TempDir

HAPROXY = shutil.which('haproxy', path=os.pathsep.join(
    [os.environ.get('PATH', ''), '/usr/local/sbin', '/usr/sbin']))
SOCAT = shutil.which('socat', path=os.pathsep.join(
    [os.environ.get('PATH', ''), '/usr/bin']))
COMMUNITY = '1 FR\n0 *\n'


def start_haproxy(test, config):
    process = subprocess.Popen([HAPROXY, '-f', config, '-db'],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    test.addCleanup(lambda: (process.terminate(), process.wait()))
    return process


def port_free(host, port):
    import socket
    s = socket.socket()
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


@unittest.skipUnless(HAPROXY, 'haproxy is not installed'
                     ' (apt-get install haproxy)')
class TestLocatedByAddress(TempDir):

    def setUp(self):
        super().setUp()
        mmdb = located_country_mmdb(self.path('country.mmdb'),
                                    '127.0.0.0/8', 'FR', 'EU')
        community = self.path('community.conf')
        files.write(community, COMMUNITY)
        with mock.patch.dict(os.environ, {'GEOIP2_MMDB': mmdb}):
            self.registry = RunningRegistry(
                self.path('registry'), community=json.dumps(COMMUNITY),
                **{'community-file': community, 'geoip2-mmdb': mmdb})
        self.addCleanup(self.registry.stop)
        self.port = free_port('127.0.0.1')
        config = self.path('forward.cfg')
        files.write(config, forward.render(
            ['127.0.0.1'], self.port, '127.0.0.1:%s' % self.registry.port,
            '127.0.0.2'))
        start_haproxy(self, config)
        self.url = 'http://127.0.0.1:%s/' % self.port
        self.assertTrue(wait_for(lambda: answers(self.url), 10, 0.05))

    def test_a_node_through_the_forward_gets_its_country_community(self):
        directory = self.registry.join('throughforward', self.url,
                                       add_token=True)
        self.assertEqual(node_prefix(directory)[0][:1], '1')

    def test_a_client_cannot_choose_its_address(self):
        """What a client sends as X-Forwarded-For is replaced: the node
        is located by its own address, and private RPCs stay refused."""
        import urllib.request
        request = urllib.request.Request(
            self.url + 'isToken?token=x',
            headers={'X-Forwarded-For': '127.0.0.1'})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=5)
        self.assertIn(e.exception.code, (403, 404))

    def test_without_the_forward_the_host_header_locates_nothing(self):
        """The registry's own address (what the forward used to leave it
        with: the Host header) is no address GeoIP knows."""
        self.registry.add_token('direct')
        directory = self.path('direct')
        os.makedirs(directory)
        result = run_conf(self.registry.url, directory, '--fingerprint',
                          self.registry.fingerprint, '--token', 'direct')
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(node_prefix(directory)[0][:1], '0')


class Partition:
    """What slapos.core's portredir manager uses of the partition object
    slapos node gives it (slapos.grid.SlapObject.Partition): stands in
    for the node's supervisor, recording the programs it is asked to
    add."""

    def __init__(self, instance_path, ipv6):
        self.instance_path = instance_path
        self.programs = []
        partition = mock.Mock()
        partition.getInstanceParameterDict.return_value = {
            'ip_list': [('lo', '127.0.0.1'), ('lo', ipv6)]}
        self.computer_partition = partition

    def generateSupervisorConfiguration(self):
        pass

    def addProgramToGroup(self, group, name, program, command, as_user):
        self.programs.append((name, command, as_user))

    def writeSupervisorConfigurationFiles(self):
        pass

    def getGroupIdFromSuffix(self, suffix):
        return 'slappart0-' + suffix

    def getSupervisorRPC(self):
        supervisor = mock.MagicMock()
        supervisor.__enter__.return_value.getProcessInfo.return_value = {
            'start': 1}
        return supervisor


@unittest.skipUnless(HAPROXY, 'haproxy is not installed'
                     ' (apt-get install haproxy)')
class TestPortRedirection(TempDir):

    def forward_options(self, **options):
        return dict({
            'output': self.path('forward.cfg'), 'listen': '::1',
            'port': str(self.port), 'registry': '127.0.0.1:9200',
            'source': '127.0.0.2', 'redirect-address': '127.0.0.3',
            'port-redirect': self.path('.slapos-port-redirect'),
            'taken-ports': '9200'}, **options)

    def setUp(self):
        super().setUp()
        self.port = free_port('::1', '127.0.0.1', '127.0.0.3')

    def test_the_redirect_leads_to_the_forward_at_a_port_of_its_own(self):
        recipe = forward_recipe.Recipe(None, 'forward',
                                       self.forward_options())
        recipe.install()
        redirects = json.loads(files.read(self.path('.slapos-port-redirect')))
        self.assertEqual(redirects, [{'srcPort': self.port,
                                      'destPort': self.port + 1,
                                      'destAddress': '127.0.0.3'}])
        self.assertRegex(recipe.text, r'bind 127\.0\.0\.3:%s\b'
                         % (self.port + 1))
        self.assertNotRegex(recipe.text, r'bind 127\.0\.0\.3:%s\b'
                            % self.port)

    def test_an_adopted_registry_keeps_9201(self):
        recipe = forward_recipe.Recipe(None, 'forward', self.forward_options(
            **{'redirect-ports': '9201'}))
        self.assertEqual([r['srcPort'] for r in recipe.redirects],
                         [self.port, 9201])
        self.assertEqual({r['destPort'] for r in recipe.redirects},
                         {self.port + 1})

    def test_no_redirect_without_the_partition_ipv4(self):
        options = self.forward_options()
        del options['redirect-address']
        forward_recipe.Recipe(None, 'forward', options).install()
        self.assertFalse(os.path.exists(self.path('.slapos-port-redirect')))

    @unittest.skipUnless(SOCAT, 'socat is not installed'
                         ' (apt-get install socat)')
    def test_slapos_core_portredir_reaches_the_registry(self):
        from slapos.manager import portredir
        registry = RunningRegistry(self.path('registry'))
        self.addCleanup(registry.stop)
        # the next port (the redirect's target) free on 127.0.0.3 too
        while not port_free('127.0.0.3', self.port + 1):
            self.port = free_port('::1', '127.0.0.1', '127.0.0.3')
        recipe = forward_recipe.Recipe(None, 'forward', self.forward_options(
            registry='127.0.0.1:%s' % registry.port))
        recipe.install()
        start_haproxy(self, self.path('forward.cfg'))
        partition = Partition(self.dir, '::1')
        with mock.patch.dict(os.environ, {'PATH': os.pathsep.join(
                [os.environ.get('PATH', ''), os.path.dirname(SOCAT)])}):
            portredir.Manager({}).instanceTearDown(partition)
        (name, command, as_user), = partition.programs
        self.assertTrue(as_user)
        self.assertEqual(command.split()[1:], [
            'TCP4-LISTEN:%s,fork' % self.port,
            'TCP4:127.0.0.3:%s' % (self.port + 1)])
        socat = subprocess.Popen(command.split(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (socat.terminate(), socat.wait()))
        # the host's IPv4 (any of them: 127.0.0.1 here) at the port
        self.assertTrue(wait_for(
            lambda: answers('http://127.0.0.1:%s/' % self.port), 10, 0.1))
