"""build/rebootstrap.py and the profile's two paths, alone: which Python
becomes the release's, how CPython is built when none does, the
environment of its zc.buildout, the command run again, and what
software.cfg asks of each buildout.

SlapOS's fork of zc.buildout (3.0.1+slapos010) cannot be run here; what
the profile relies on from it is stated where it is tested:
- it gives every section the location of its file as the option
  _profile_base_location_ (PyPI's zc.buildout has no such option, but
  records where each option was read from);
- its bootstrap installs the zc.buildout, setuptools and
  slapos.libnetworkcache versions the profile pins, where PyPI's copies
  the running ones; a pin matches the fork's own version when it is the
  fork's base version (PEP 440: a local label like +slapos010 is ignored).
test/node runs the rest with PyPI's zc.buildout 3.0.1, the fork's base.
"""
import ast
import io
import os
import subprocess
import sys

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from support import TOP, build_module, read
from harness.tempdir import TempDir

rebootstrap = build_module('rebootstrap')
SLAPOS_ARGS = ['buildout:extends-cache=/sr/x/extends-cache',
               'buildout:directory=/sr/x', '-N', '-c', '/sr/x/buildout.cfg']


class TestCommandOptions(TempDir):

    def test_as_slapos_runs_buildout(self):
        self.assertEqual(rebootstrap.command_options(['-U'] + SLAPOS_ARGS),
                         ['-U'] + SLAPOS_ARGS)

    def test_the_command_and_its_arguments_are_left_out(self):
        self.assertEqual(rebootstrap.command_options(
            ['-N', 'k:o=v', 'install', 'a', '-c', 'x']), ['-N', 'k:o=v'])
        self.assertEqual(rebootstrap.command_options(
            ['-Nc', 'b.cfg', 'bootstrap']), ['-Nc', 'b.cfg'])
        self.assertEqual(rebootstrap.command_options(
            ['-cb.cfg', '-t', '5', 'query', 'x:y']), ['-cb.cfg', '-t', '5'])


def script(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


class TestFindPython(TempDir):

    def setUp(self):
        super().setUp()
        self.bin = self.path('bin')
        os.makedirs(self.bin)

    def test_a_suitable_python(self):
        """This Python has venv, ssl, sqlite3... and its headers (as
        make-env requires), so it is suitable."""
        self.assertEqual(rebootstrap.missing(sys.executable), [])
        os.symlink(sys.executable, os.path.join(self.bin, 'python-test'))
        lacking = script(os.path.join(self.bin, 'python-old'),
                         '#!/bin/sh\necho "python>=3.11"\n')
        found, unsuitable = rebootstrap.find_python(
            ['python-none', 'python-old', 'python-test'], path=self.bin)
        self.assertEqual(found, os.path.join(self.bin, 'python-test'))
        self.assertEqual(unsuitable, {lacking: ['python>=3.11']})

    def test_unsuitable_ones_are_told_with_what_they_lack(self):
        lacking = script(os.path.join(self.bin, 'python3.13'),
                         '#!/bin/sh\necho venv ensurepip Python.h\n')
        broken = script(os.path.join(self.bin, 'python3.12'),
                        '#!/bin/sh\nexit 1\n')
        self.assertEqual(rebootstrap.missing(lacking),
                         ['venv', 'ensurepip', 'Python.h'])
        self.assertIsNone(rebootstrap.missing(broken))
        found, unsuitable = rebootstrap.find_python(
            [lacking, broken, self.path('nowhere')], path=self.bin)
        self.assertIsNone(found)
        self.assertEqual(unsuitable, {
            lacking: ['venv', 'ensurepip', 'Python.h'],
            broken: ['(does not run)']})
        self.assertEqual(
            rebootstrap.debian_packages(['venv', 'Python.h'], lacking),
            ['python3.13-dev', 'python3.13-venv'])
        self.assertEqual(rebootstrap.debian_packages(['ssl', 'lzma', 'venv']),
                         ['liblzma-dev', 'libssl-dev'])


class FakeBuild:
    """Stands in for tar, configure and make: `make install` installs
    `python` (a script) as the prefix's python3."""

    def __init__(self, prefix, python, fails=False):
        self.prefix, self.python, self.commands = prefix, python, []
        self.fails = fails

    def __call__(self, command, cwd=None, **kw):
        self.commands.append(command[:2])
        if self.fails and command[0] == 'make':
            kw['stdout'].write('error: something is wrong\n')
            raise subprocess.CalledProcessError(2, command)
        if command == ['make', 'install']:
            os.makedirs(os.path.join(self.prefix, 'bin'))
            os.symlink(self.python, os.path.join(self.prefix, 'bin',
                                                 'python3'))


class TestBuildPython(TempDir):
    URL = 'https://example.invalid/Python-3.11.2.tgz'

    def download(self, url, md5sum=None):
        self.downloads.append((url, md5sum))
        return script(self.path('source.tgz'), ''), False

    def setUp(self):
        super().setUp()
        self.downloads = []
        self.prefix = self.path('parts', 'python3.11')

    def test_built_once(self):
        build = FakeBuild(self.prefix, sys.executable)
        for _ in range(2):
            python = rebootstrap.build_python(
                self.URL, 'md5', self.prefix, self.download, run=build)
        self.assertEqual(python, os.path.join(self.prefix, 'bin', 'python3'))
        self.assertEqual(self.downloads, [(self.URL, 'md5')])
        self.assertEqual([c[0] for c in build.commands],
                         ['tar', './configure', 'make', 'make'])
        self.assertFalse(os.path.exists(self.prefix + '.build'))

    def test_a_build_without_ssl_is_refused_with_the_package_to_install(self):
        lacking = script(self.path('python'), '#!/bin/sh\necho ssl sqlite3\n')
        with self.assertRaises(rebootstrap.Refused) as refused:
            rebootstrap.build_python(self.URL, 'md5', self.prefix,
                                     self.download,
                                     run=FakeBuild(self.prefix, lacking))
        self.assertIn('without ssl, sqlite3: install libsqlite3-dev,'
                      ' libssl-dev', str(refused.exception))
        # nothing half built is kept
        self.assertFalse(os.path.exists(self.prefix))

    def test_a_failed_build_shows_the_end_of_its_output(self):
        with self.assertRaises(rebootstrap.Refused) as refused:
            rebootstrap.build_python(
                self.URL, 'md5', self.prefix, self.download,
                run=FakeBuild(self.prefix, sys.executable, fails=True))
        self.assertIn('(make -j', str(refused.exception))
        self.assertIn('exited with 2', str(refused.exception))
        self.assertTrue(str(refused.exception).endswith(
            'error: something is wrong\n'))
        self.assertFalse(os.path.exists(self.prefix))

    def test_without_a_compiler_the_sentence_says_what_to_install(self):
        path = os.environ['PATH']
        os.environ['PATH'] = self.path('empty')
        self.addCleanup(os.environ.__setitem__, 'PATH', path)
        with self.assertRaises(rebootstrap.Refused) as refused:
            rebootstrap.build_python(self.URL, 'md5', self.prefix,
                                     self.download, run=self.fail)
        self.assertIn('cc and make are missing. Install python3.11 with'
                      ' python3.11-venv and python3.11-dev, or gcc, make',
                      str(refused.exception))
        self.assertEqual(self.downloads, [])


class TestMakeVenv(TempDir):

    def fake_venv(self, command):
        self.commands.append(command)
        if self.pip_fails and 'pip' in command:
            raise subprocess.CalledProcessError(1, command)
        if command[1:3] == ['-m', 'venv']:
            os.makedirs(os.path.join(command[3], 'bin'))
            script(os.path.join(command[3], 'bin', 'python'), '')

    pip_fails = False

    def test_made_again_only_when_python_or_pins_change(self):
        self.commands = []
        location = self.path('release-python')
        pins = ['zc.buildout==6.0.1', 'setuptools==80.10.2']
        for _ in range(2):
            executable = rebootstrap.make_venv(
                sys.executable, location, pins, run=self.fake_venv)
        self.assertEqual(executable, os.path.join(location, 'bin', 'python'))
        self.assertEqual(len(self.commands), 2)
        self.assertEqual(self.commands[1][-2:], pins)
        self.assertIn('--no-deps', self.commands[1])
        rebootstrap.make_venv(sys.executable, location, pins[:1],
                              run=self.fake_venv)
        self.assertEqual(len(self.commands), 4)

    def test_a_failed_install_leaves_nothing(self):
        self.commands, self.pip_fails = [], True
        location = self.path('release-python')
        with self.assertRaises(rebootstrap.Refused) as refused:
            rebootstrap.make_venv(sys.executable, location,
                                  ['zc.buildout==6.0.1'], run=self.fake_venv)
        self.assertIn('Installing zc.buildout==6.0.1 with', str(
            refused.exception))
        self.assertIn('(-m pip exited with 1)', str(refused.exception))
        self.assertFalse(os.path.exists(location))

    def test_every_egg_pinned(self):
        self.assertEqual(rebootstrap.requirements(
            {'zc.buildout': '6.0.1', 'pip': '25.3'}, ['zc.buildout', 'pip']),
            ['zc.buildout==6.0.1', 'pip==25.3'])
        with self.assertRaises(rebootstrap.Refused) as refused:
            rebootstrap.requirements({'pip': '25.3'}, ['zc.buildout', 'pip'])
        self.assertEqual(str(refused.exception),
                         '[versions] pins no version of zc.buildout: pin it.')


def profile_sections(version_info):
    """software.cfg (with buildout.hash.cfg) as a buildout running on
    Python `version_info` reads it: {section: {option: value}}."""
    import zc.buildout.configparser

    class Sys:
        pass
    fake_sys = Sys()
    fake_sys.version_info = version_info
    sections = {}
    for name in 'buildout.hash.cfg', 'software.cfg':
        parsed = zc.buildout.configparser.parse(
            io.StringIO(read(os.path.join(TOP, name))), name,
            lambda: {'sys': fake_sys})
        for section, options in parsed.items():
            sections.setdefault(section, {}).update(options)
    return sections


def base_statement(section):
    """The statement of a section's init that finds where the profile was
    read from."""
    tree = ast.parse(profile_sections((3, 11, 2))[section]['init'])
    for node in tree.body:
        if isinstance(node, ast.Assign) and '_profile_base_location_' in (
                ast.dump(node)):
            return ast.Module(body=[node], type_ignores=[])
    raise AssertionError('no profile base in [%s] init' % section)


class Recipe:
    pass


class TestProfile(TempDir):

    def test_on_a_slapos_node_python(self):
        """Python 3.9 (SlapOS's node packages): one part, and pins that
        install there, zc.buildout's matching the fork's own version."""
        sections = profile_sections((3, 9, 2))
        self.assertEqual(sections['buildout']['parts'], 'rebootstrap')
        pins = sections[sections['buildout']['versions']]
        self.assertEqual(pins['zc.buildout'], '3.0.1')
        self.assertIn(Version('3.0.1+slapos010'),
                      SpecifierSet('==' + pins['zc.buildout']))
        for name in 'setuptools', 'slapos.libnetworkcache', 'pip', 'wheel':
            self.assertIn(name, pins)
        # the md5sum of build/rebootstrap.py, from buildout.hash.cfg
        self.assertEqual(sections['build/rebootstrap.py']['md5sum'],
                         rebootstrap_md5())
        # the zc.buildout it installs is the one of the usual path
        for name in sections['rebootstrap']['buildout-eggs'].split():
            self.assertIn(name, sections['versions'])

    def test_on_python_3_11(self):
        sections = profile_sections((3, 11, 2))
        self.assertNotIn('rebootstrap', sections['buildout']['parts'])
        self.assertIn('eggs', sections['buildout']['parts'].split())
        self.assertNotIn('versions', sections['buildout'])  # [versions]
        self.assertEqual(sections['versions']['zc.buildout'], '6.0.1')

    def test_where_the_profile_was_read_from(self):
        """[profile] finds it and keeps it as buildout:profile-base; the
        code that finds it is written there only."""
        sections = profile_sections((3, 11, 2))
        self.assertEqual(
            [name for name, options in sections.items()
             if '_profile_base_location_' in str(options)], ['profile'])
        self.assertEqual(sections['buildout']['parts'].split()[0], 'profile')
        code = compile(base_statement('profile'), 'profile', 'exec')
        # SlapOS's fork: an option of every section
        fork = Recipe()
        fork.name = 'profile'
        fork.buildout = {'buildout': {}}
        exec(code, {'self': fork,
                    'options': {'_profile_base_location_': 'http://h/r'}})
        self.assertEqual(fork.buildout['buildout']['profile-base'],
                         'http://h/r')

        # PyPI's zc.buildout: the history of the option
        class Item:
            source = 'http://h/r/software.cfg'

        class Key:
            history = [Item()]

        class Buildout(dict):
            _annotated = {'profile': {'recipe': Key()}}
        pypi = Recipe()
        pypi.name = 'profile'
        pypi.buildout = Buildout(buildout={})
        exec(code, {'self': pypi, 'options': {}})
        self.assertEqual(pypi.buildout['buildout']['profile-base'],
                         'http://h/r')


class TestReleaseFiles(TempDir):

    def run_release_files(self, sections, paths, base):
        section = profile_sections((3, 11, 2))['release-files']
        recipe = Recipe()
        recipe.buildout = dict(sections, buildout={
            'download-cache': self.path('cache'), 'directory': self.dir})
        recipe.buildout['buildout']['profile-base'] = base
        exec(compile(section['install'], 'release-files', 'exec'), {
            'self': recipe, 'location': self.path('part'),
            'options': {'paths': paths}})

    def test_files_of_the_same_name_under_a_download_cache(self):
        """[release-files] fetches many files named alike (__init__.py):
        a download cache keeps each apart.  It takes each file of its
        `paths` from the section of buildout.hash.cfg named after it."""
        import hashlib
        base = self.path('base')
        sections = {'a': {}}  # a section named as a folder: not a file
        for package in 'a', 'b':
            os.makedirs(os.path.join(base, package))
            with open(os.path.join(base, package, '__init__.py'), 'w') as f:
                f.write('# %s\n' % package)
            path = '%s/__init__.py' % package
            sections[path] = {'filename': path, 'md5sum': hashlib.md5(
                ('# %s\n' % package).encode()).hexdigest()}
        os.makedirs(self.path('cache'))
        for _ in range(2):  # the second time from the cache
            self.run_release_files(sections, 'a/ b/__init__.py', base)
            for package in 'a', 'b':
                self.assertEqual(read(self.path(
                    'part', package, '__init__.py')), '# %s\n' % package)

    def test_a_path_without_a_section(self):
        import zc.buildout
        os.makedirs(self.path('cache'))
        with self.assertRaises(zc.buildout.UserError) as refused:
            self.run_release_files({}, 'c/', self.path('base'))
        self.assertEqual(
            str(refused.exception),
            'buildout.hash.cfg has no section for c/: run ./update-hash.')


def rebootstrap_md5():
    import hashlib
    return hashlib.md5(read(os.path.join(TOP, 'build', 'rebootstrap.py'),
                            'rb')).hexdigest()


class TestRunsOnPython39(TempDir):

    def test_syntax(self):
        """slapos's own Python runs it: Python 3.9's grammar."""
        ast.parse(read(rebootstrap.__file__), feature_version=(3, 9))
