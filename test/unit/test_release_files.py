"""The release's files: hashes up to date, catalog and schemas valid and
formatted as SlapOS formats them."""
import collections
import configparser
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import jsonschema

from support import TOP, read


def load(name):
    with open(os.path.join(TOP, name)) as f:
        return json.load(f)


def slapos_formatted(text):
    """`text` as SlapOS's format-json tool writes a JSON file (and, line
    by line, its slapos/test/test_json_schema.py expects it): keys in their
    order, 2-space indent, no space at the end of a line, ': ' after keys,
    no \\u escapes, one final line break."""
    return json.dumps(
        json.loads(text, object_pairs_hook=collections.OrderedDict),
        ensure_ascii=False, sort_keys=False, indent=2,
        separators=(',', ': ')) + '\n'


def unformatted(top):
    """The catalog and schema files under `top` (the ones SlapOS checks:
    software*.cfg.json, *schema.json) not formatted as SlapOS does."""
    wrong = []
    for path in sorted(glob.glob(os.path.join(top, 'software*.cfg.json'))
                       + glob.glob(os.path.join(top, '*schema.json'))):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if text != slapos_formatted(text):
            wrong.append(os.path.basename(path))
    return wrong


def slapos_update_hash(text, directory):
    """`text`, a buildout.hash.cfg in `directory`, as SlapOS's update-hash
    script (the top-level `update-hash` of SlapOS's repository) rewrites
    it, read the way that script reads it: line by line, comment lines
    ("#...") kept where they are, a line starting with "[" opens a section,
    a line with "=" is an option that must be `filename` or `md5sum` (any
    other: ValueError, the script stops), every md5sum line dropped and,
    in each section that has a filename, one made again from the file's
    bytes and put as the section's third line (after its header and the
    line after it).  Lines before the first section are kept as they are;
    an option there fails as the script's assertion does."""
    out, section, filename, line_end = [], None, None, '\n'

    def close():
        if section is not None and filename is not None:
            with open(os.path.join(directory, filename), 'rb') as f:
                digest = hashlib.md5(f.read()).hexdigest()
            section.insert(2, 'md5sum = %s%s' % (digest, line_end))
        out.extend(section or ())

    for line in text.splitlines(keepends=True):
        if line.startswith('#'):
            (out if section is None else section).append(line)
        elif line.startswith('['):
            close()
            section, filename = [line], None
        elif '=' in line:
            if section is None:
                raise AssertionError(line)
            name, value = (part.strip() for part in line.split('=', 1))
            if name == 'filename':
                filename = value
                section.append(line)
            elif name == 'md5sum':
                line_end = line[len(line.rstrip('\r\n')):]
            else:
                raise ValueError('Unknown key: %r' % name)
        else:
            (out if section is None else section).append(line)
    close()
    return ''.join(out)


def hash_sections(text):
    """{section: {option: value}} of a buildout.hash.cfg."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


class TestHashes(unittest.TestCase):

    def update_hash(self, top, *args):
        return subprocess.run(
            [sys.executable, os.path.join(top, 'update-hash')] + list(args),
            capture_output=True, text=True)

    def test_buildout_hash_cfg_is_current(self):
        result = self.update_hash(TOP, '--check')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_in_the_form_slapos_update_hash_maintains(self):
        """SlapOS's update-hash would leave buildout.hash.cfg as it is:
        one section per file, filename and md5sum only, each md5sum the
        file's; and every file software.cfg fetches has its section."""
        text = read(os.path.join(TOP, 'buildout.hash.cfg'))
        self.assertEqual(slapos_update_hash(text, TOP), text)
        sections = hash_sections(text)
        for name, options in sections.items():
            self.assertEqual(sorted(options), ['filename', 'md5sum'], name)
            with open(os.path.join(TOP, options['filename']), 'rb') as f:
                self.assertEqual(options['md5sum'],
                                 hashlib.md5(f.read()).hexdigest(), name)
        filenames = {options['filename'] for options in sections.values()}
        for path in ['setup.py'] + [
                os.path.relpath(p, TOP) for p in glob.glob(os.path.join(
                    TOP, '*', '**', '*.py'), recursive=True)]:
            if path.startswith(('build/', 'slapos_re6st/', 'setup.py')):
                self.assertIn(path, filenames)

    def test_the_slapos_way_of_reading_sees_a_breach(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        with open(os.path.join(tmp, 'a.py'), 'w') as f:
            f.write('a\n')
        good = ('# c\n\n[a.py]\nfilename = a.py\nmd5sum = %s\n\n'
                % hashlib.md5(b'a\n').hexdigest())
        self.assertEqual(slapos_update_hash(good, tmp), good)
        # a stale md5sum: made again
        stale = good.replace('md5sum = ', 'md5sum = 0')
        self.assertEqual(slapos_update_hash(stale, tmp), good)
        # a section named after no file loses its md5sum
        self.assertEqual(
            slapos_update_hash('[a]\nmd5sum = 0\n', tmp), '[a]\n')
        # a list of files stops the script
        with self.assertRaises(ValueError):
            slapos_update_hash('[a]\nfiles =\n  a.py 0\n', tmp)

    def test_update_hash_writes_what_slapos_update_hash_writes(self):
        """After a change, ./update-hash and SlapOS's script agree."""
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        top = os.path.join(tmp, 'release')
        shutil.copytree(TOP, top, ignore=shutil.ignore_patterns(
            '.work', '.git', '__pycache__', '.slapos*'))
        with open(os.path.join(top, 'slapos_re6st', 'lib', 'ca.py'),
                  'a') as f:
            f.write('\n# changed\n')
        before = read(os.path.join(top, 'buildout.hash.cfg'))
        self.assertEqual(self.update_hash(top).returncode, 0)
        self.assertEqual(read(os.path.join(top, 'buildout.hash.cfg')),
                         slapos_update_hash(before, top))

    def test_check_names_the_stale_file_and_update_fixes_it(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        top = os.path.join(tmp, 'release')
        shutil.copytree(TOP, top, ignore=shutil.ignore_patterns(
            '.work', '.git', '__pycache__', '.slapos*'))
        for path in 'slapos_re6st/lib/ca.py', 'build/instance_eggs.py':
            with open(os.path.join(top, path), 'a') as f:
                f.write('\n# changed\n')
        result = self.update_hash(top, '--check')
        self.assertEqual(result.returncode, 1)
        self.assertIn('slapos_re6st/lib/ca.py', result.stdout)
        self.assertIn('build/instance_eggs.py', result.stdout)
        self.assertNotIn('instance.cfg.in', result.stdout)
        self.assertEqual(self.update_hash(top).returncode, 0)
        self.assertEqual(self.update_hash(top, '--check').returncode, 0)


class TestCatalog(unittest.TestCase):

    def test_software_cfg_json(self):
        catalog = load('software.cfg.json')
        self.assertEqual(catalog['serialisation'], 'json-in-xml')
        default = catalog['software-type']['default']
        self.assertEqual(default['title'], 'Default')
        self.assertEqual(default['software-type'], 'default')
        token = catalog['software-type']['default-token']
        self.assertEqual(token['software-type'], 'default')
        self.assertIs(token['shared'], True)
        for entry in catalog['software-type'].values():
            for key in 'request', 'response':
                path = os.path.join(TOP, entry[key])
                self.assertTrue(os.path.exists(path), path)
                jsonschema.Draft202012Validator.check_schema(load(entry[key]))

    def test_the_registry_comes_first(self):
        """A master lists the entries by index: the registry is the one a
        user lands on, the token second; the file lists them in that order
        too, as SlapOS's catalogs do."""
        entries = load('software.cfg.json')['software-type']
        self.assertEqual(
            [(key, entry['index']) for key, entry in entries.items()],
            [('default', 0), ('default-token', 1)])
        self.assertNotIn('shared', entries['default'])

    def test_formatted_as_slapos_formats_json(self):
        self.assertEqual(unformatted(TOP), [])
        # the check sees a breach: spaces at the end of lines, another
        # indent, one line with \u escapes, no final line break
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        good = {'b': 1, 'a': ['x', '\u00e9']}
        for name, text in (
                ('software.cfg.json', slapos_formatted(json.dumps(good))),
                ('instance-input-schema.json', json.dumps(
                    good, ensure_ascii=False, indent=2,
                    separators=(', ', ': ')) + '\n'),
                ('instance-output-schema.json', json.dumps(
                    good, ensure_ascii=False, indent=4) + '\n'),
                ('instance-token-input-schema.json', json.dumps(good) + '\n'),
                ('instance-token-output-schema.json',
                 slapos_formatted(json.dumps(good)).rstrip('\n')),
                ('README.json', '{}')):
            with open(os.path.join(tmp, name), 'w', encoding='utf-8') as f:
                f.write(text)
        self.assertEqual(unformatted(tmp), [
            'instance-input-schema.json', 'instance-output-schema.json',
            'instance-token-input-schema.json',
            'instance-token-output-schema.json'])

    def test_schemas_are_draft_2020_12(self):
        for name in os.listdir(TOP):
            if name.endswith('-schema.json'):
                schema = load(name)
                self.assertEqual(
                    schema['$schema'],
                    'https://json-schema.org/draft/2020-12/schema', name)
                jsonschema.Draft202012Validator.check_schema(schema)

    def test_defaults_are_valid(self):
        schema = load('instance-input-schema.json')
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker())
        defaults = {k: v['default'] for k, v in schema['properties'].items()}
        self.assertEqual(list(validator.iter_errors(defaults)), [])
        for name, prop in schema['properties'].items():
            self.assertIn('default', prop, name)
            self.assertIn('description', prop, name)
