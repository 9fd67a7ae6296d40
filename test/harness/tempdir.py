"""A temporary directory per test."""
import os
import shutil
import tempfile
import unittest


class TempDir(unittest.TestCase):
    """self.dir: a directory of this test's own, removed after it."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, *names):
        return os.path.join(self.dir, *names)
