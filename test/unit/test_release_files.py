"""The release's files: hashes up to date, catalog and schemas valid and
formatted as SlapOS formats them."""
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import jsonschema

from support import TOP


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


class TestHashes(unittest.TestCase):

    def update_hash(self, top, *args):
        return subprocess.run(
            [sys.executable, os.path.join(top, 'update-hash')] + list(args),
            capture_output=True, text=True)

    def test_buildout_hash_cfg_is_current(self):
        result = self.update_hash(TOP, '--check')
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

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
