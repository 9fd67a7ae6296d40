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

    def files(self, top=None):
        """{path under `top` (default: this test's directory): (size,
        mtime)} of every file and folder there: equal before and after
        something that writes nothing."""
        found = {}
        for directory, folders, names in os.walk(top or self.dir):
            for name in folders + names:
                path = os.path.join(directory, name)
                info = os.lstat(path)
                found[path] = (info.st_size, info.st_mtime_ns)
        return found
