"""The release's files: hashes up to date, catalog and schemas valid."""
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
        for entry in catalog['software-type'].values():
            for key in 'request', 'response':
                path = os.path.join(TOP, entry[key])
                self.assertTrue(os.path.exists(path), path)
                jsonschema.Draft202012Validator.check_schema(load(entry[key]))

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
