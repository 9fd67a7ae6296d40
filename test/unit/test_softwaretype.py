"""The software-type and optional-parts recipes."""
import unittest

import zc.buildout

from slapos_re6st.recipe import softwaretype


class TestSoftwareType(unittest.TestCase):

    def test_default_names(self):
        for name in ('', 'default', 'RootSoftwareInstance'):
            self.assertEqual(softwaretype.parts_for(name, {'default': 'a b'}),
                             'a b')

    def test_unknown_type_is_named(self):
        with self.assertRaises(zc.buildout.UserError) as e:
            softwaretype.parts_for('kvm', {'default': 'a'})
        self.assertIn("'kvm'", str(e.exception))
        self.assertIn("'default'", str(e.exception))

    def test_optional_parts(self):
        options = {'if': '', 'parts': 'x y', 'url': 'http://:1/'}
        softwaretype.Optional(None, 'o', options)
        self.assertEqual(options['enabled-parts'], '')
        self.assertEqual(options['enabled-url'], '')
        options = {'if': '192.0.2.1', 'parts': 'x y',
                   'url': 'http://192.0.2.1:1/'}
        softwaretype.Optional(None, 'o', options)
        self.assertEqual(options['enabled-parts'], 'x y')
        self.assertEqual(options['enabled-url'], 'http://192.0.2.1:1/')
        # run again (buildout may initialise a section twice): the same
        softwaretype.Optional(None, 'o', options)
        self.assertNotIn('enabled-enabled-url', options)
