""".installed.cfg kept from growing (the compact-installed recipe), against
PyPI's zc.buildout's own writer and parser."""
import os
import stat

from slapos_re6st.recipe import installed
from harness.tempdir import TempDir


class TestInstalledRecord(TempDir):
    """.installed.cfg as PyPI's zc.buildout writes it (its own writers): a
    full save, then one [buildout] section appended per updated part."""

    def record(self, runs):
        import io
        import zc.buildout.buildout as bb
        parts = ['directory', 'ca', 'registry-service']
        out = io.StringIO()
        bb._save_options('buildout', {'installed_develop_eggs': '',
                                      'parts': ' '.join(parts)}, out)
        for part in parts:
            print(file=out)
            bb._save_options(part, {
                '__buildout_installed__': '/p/%s\n/p/%s.more' % (part, part),
                '__buildout_signature__': 'a-1.egg b-2.egg',
                'recipe': 'x:%s' % part, 'text': '  spaced\n\tvalue '},
                out)
        for run in range(runs):
            # what _update_installed appends, as in one instance run
            out.write('\n[buildout]\ninstalled_develop_eggs = \n')
            for i in range(len(parts)):
                order = parts[i + 1:] + parts[:i + 1]
                out.write('\n[buildout]\nparts = %s\n' % ' '.join(order))
        return out.getvalue()

    def parsed(self, text):
        import io
        import zc.buildout.configparser
        return zc.buildout.configparser.parse(io.StringIO(text), 'x')

    def test_the_same_record_in_one_section(self):
        text = self.record(runs=3)
        new = installed.compacted(text)
        self.assertEqual(self.parsed(new), self.parsed(text))
        self.assertEqual(new.count('[buildout]'), 1)
        self.assertLess(len(new), len(text))
        # nothing to do the next time, nor on a full save
        self.assertIsNone(installed.compacted(new))
        self.assertIsNone(installed.compacted(self.record(runs=0)))

    def test_the_file_is_rewritten_in_place_and_keeps_its_mode(self):
        path = self.path('.installed.cfg')
        with open(path, 'w') as f:
            f.write(self.record(runs=5))
        os.chmod(path, 0o640)
        self.assertTrue(installed.compact(path))
        self.assertFalse(installed.compact(path))
        with open(path) as f:
            self.assertEqual(self.parsed(f.read()),
                             self.parsed(self.record(runs=5)))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertFalse(installed.compact(self.path('missing.cfg')))

    def test_what_it_does_not_recognise_is_left_alone(self):
        for text in ('[ca]\nx = 1\n\n[buildout]\nparts = ca\n',
                     '[buildout]\nparts = a\n  b\n\n[buildout]\nparts = a\n',
                     ''):
            self.assertIsNone(installed.compacted(text), text)
