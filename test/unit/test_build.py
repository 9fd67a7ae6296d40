"""The software build's own code (build/), alone: the eggs presented in
the old format offline buildout reads, and bin/bootstrap-instance."""
import os
import shutil
import subprocess
import sys
import warnings

from support import build_module, read
from harness.tempdir import TempDir

instance_eggs = build_module('instance_eggs')
# egg names as buildout makes them for this Python
RE6STNET = 're6stnet-0.642-py%s.%s.egg' % sys.version_info[:2]
SIX = 'six-1.17.0-py%s.%s.egg' % sys.version_info[:2]
bootstrap_instance = build_module('bootstrap_instance')

METADATA = '''\
Metadata-Version: 2.1
Name: re6stnet
Version: 0.642
Provides-Extra: geoip
Provides-Extra: test
Requires-Dist: pyOpenSSL>=23.2.0
Requires-Dist: miniupnpc
Requires-Dist: typing-extensions; python_version < "3.0"
Requires-Dist: geoip2; extra == "geoip"
Requires-Dist: mock[extra]>=1.0; extra == "test"

A long description.
'''


class TestInstanceEggs(TempDir):

    def eggs(self):
        eggs = self.path('eggs')
        new = os.path.join(eggs, RE6STNET)
        os.makedirs(os.path.join(new, 're6st'))
        os.makedirs(os.path.join(new, 're6stnet-0.642.dist-info'))
        with open(os.path.join(new, 're6st', '__init__.py'), 'w'):
            pass
        info = os.path.join(new, 're6stnet-0.642.dist-info')
        with open(os.path.join(info, 'METADATA'), 'w') as f:
            f.write(METADATA)
        with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
            f.write('[console_scripts]\nre6st-conf = re6st.cli.conf:main\n')
        old = os.path.join(eggs, SIX)
        os.makedirs(os.path.join(old, 'EGG-INFO'))
        with open(os.path.join(old, 'EGG-INFO', 'PKG-INFO'), 'w') as f:
            f.write('Metadata-Version: 1.1\nName: six\nVersion: 1.17.0\n')
        return eggs

    def test_what_pkg_resources_reads(self):
        location = self.path('instance-eggs')
        instance_eggs.present(self.eggs(), location)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import pkg_resources
        dists = {d.project_name: d for d in
                 pkg_resources.find_distributions(
                     os.path.join(location, RE6STNET))}
        re6st = dists['re6stnet']
        self.assertEqual(re6st.version, '0.642')
        self.assertEqual(sorted(str(r) for r in re6st.requires()),
                         ['miniupnpc', 'pyOpenSSL>=23.2.0'])
        self.assertEqual(sorted(str(r) for r in re6st.requires(('geoip',))),
                         ['geoip2', 'miniupnpc', 'pyOpenSSL>=23.2.0'])
        self.assertIn('mock[extra]>=1.0',
                      [str(r) for r in re6st.requires(('test',))])
        self.assertEqual(str(re6st.get_entry_info(
            'console_scripts', 're6st-conf')),
            're6st-conf = re6st.cli.conf:main')
        # the package's files are the egg's own
        self.assertEqual(os.path.realpath(os.path.join(
            location, RE6STNET, 're6st')),
            os.path.join(self.path('eggs'), RE6STNET,
                         're6st'))
        # an egg in the old format already: the egg itself
        self.assertEqual(os.readlink(os.path.join(
            location, SIX)),
            os.path.join(self.path('eggs'), SIX))

    def test_made_anew_each_time(self):
        location = self.path('instance-eggs')
        eggs = self.eggs()
        instance_eggs.present(eggs, location)
        shutil.rmtree(os.path.join(eggs, SIX))
        instance_eggs.present(eggs, location)
        self.assertEqual(os.listdir(location), [RE6STNET])


class TestBootstrapInstance(TempDir):

    def test_buildout_scripts_run_with_dash_s(self):
        isolated = bootstrap_instance.isolated
        self.assertEqual(isolated('#!/sr/bin/python3\nimport x\n'),
                         '#!/sr/bin/python3 -S\nimport x\n')
        self.assertEqual(isolated('#!/sr/bin/python3 -S\nimport x\n'),
                         '#!/sr/bin/python3 -S\nimport x\n')
        long_path = ('#!/bin/sh\n"exec" "/a/very/long/python" "$0" "$@"\n'
                     'import x\n')
        self.assertEqual(
            isolated(long_path),
            '#!/bin/sh\n"exec" "/a/very/long/python" "-S" "$0" "$@"\n'
            'import x\n')
        self.assertEqual(isolated(isolated(long_path)), isolated(long_path))

    def test_as_slapos_node_runs_it(self):
        """Installed into the release's bin/ after a shebang with -S, run
        in the partition by that shebang, as slapos node does."""
        software_bin = self.path('software', 'bin')
        os.makedirs(software_bin)
        with open(os.path.join(software_bin, 'buildout'), 'w') as f:
            f.write('#!%s\nprint("buildout")\n' % sys.executable)
        script = os.path.join(software_bin, 'bootstrap-instance')
        for _ in range(2):  # buildout's install, then its update
            bootstrap_instance.install(script, sys.executable)
        self.assertEqual(sorted(os.listdir(software_bin)),
                         ['bootstrap-instance', 'buildout'])
        partition = self.path('partition')
        os.makedirs(partition)
        for _ in range(2):
            first_line = read(script).split('\n', 1)[0]
            subprocess.run(first_line[2:].split() + [script], cwd=partition,
                           check=True)
        target = os.path.join(partition, 'sbin', 'buildout')
        self.assertEqual(read(target).split('\n', 1)[0],
                         '#!%s -S' % sys.executable)
        result = subprocess.run([target], capture_output=True, text=True)
        self.assertEqual(result.stdout, 'buildout\n')
