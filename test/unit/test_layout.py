"""The layout's rules, read from the code with ast: each folder one role,
runtime code never importing buildout-time code, tests that stand alone.
(docs/design.md says why.)  Each rule is also shown to catch a breach."""
import ast
import glob
import os
import re
import sys

from support import TEST, TOP
from harness.tempdir import TempDir

# what the software build may use: what runs buildout has it
BUILD_MAY_IMPORT = ('packaging', 'zc.buildout')
# private attributes of other projects that the unit tests use, for want
# of a public way: zc.buildout's writer of .installed.cfg sections (what
# buildout records, byte for byte) and its record of where each option was
# read from, which software.cfg reads (the tests give their stand-in one).
# The test egg (harness/, standalone/) uses none.
FOREIGN_PRIVATE = {'_save_options', '_annotated'}
# the test egg's packages (test/setup.py): SlapOS's runner installs them
# alone, so they import nothing of the checkout but each other
EGG = ('harness', 'standalone')
EGG_MAY_NOT_IMPORT = ('slapos_re6st', 'support', 'tools', 'build', 'unit',
                      'root', 'netns', 'node')
# an egg's or wheel's file name: a version, a Python, an architecture
BUILT_NAME = re.compile(
    r'-\d+(\.\d+)+-(py|cp)\d|' + '|'.join(('x86' + '_64', 'aarch' + '64')))


def python_files(*parts):
    return sorted(glob.glob(os.path.join(*parts, '**', '*.py'),
                            recursive=True))


def parse(path):
    with open(path) as f:
        return ast.parse(f.read(), path)


def imports(path, top=TOP):
    """(absolute module name, line) of every import of the file at `path`,
    relative ones resolved against its package (`top`: the root)."""
    package = os.path.relpath(os.path.dirname(path), top).split(os.sep)
    found = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = '.'.join(base + ([node.module] if node.module
                                          else []))
            else:
                module = node.module
            found.append((module, node.lineno))
            found += [('%s.%s' % (module, alias.name), node.lineno)
                      for alias in node.names]
    return found


def stdlib(module):
    return module.split('.')[0] in sys.stdlib_module_names


def runtime_imports_of_buildout_time(top):
    """Where code of the package under `top` but recipe/ imports recipe/
    or zc.buildout."""
    package = os.path.join(top, 'slapos_re6st')
    wrong = []
    for path in python_files(package):
        if os.path.relpath(path, package).split(os.sep)[0] == 'recipe':
            continue
        for module, line in imports(path, top):
            if module.startswith(('slapos_re6st.recipe', 'zc.buildout')):
                wrong.append('%s:%s imports %s' % (
                    os.path.relpath(path, top), line, module))
    return wrong


def imports_of_tests(test):
    """Where a test module under `test` imports another test module."""
    wrong = []
    for path in python_files(test):
        for module, line in imports(path, test):
            if any(part.startswith('test_') for part in module.split('.')):
                wrong.append('%s:%s imports %s' % (
                    os.path.relpath(path, test), line, module))
    return wrong


def egg_breaches(test):
    """What the test egg's modules under `test` must not do: import the
    checkout (the release, the other suites' helpers, tools) or reach into
    another project's private attributes."""
    found = []
    for package in EGG:
        for path in python_files(test, package):
            where = os.path.relpath(path, test)
            for module, line in imports(path, test):
                if module.split('.')[0] in EGG_MAY_NOT_IMPORT:
                    found.append('%s:%s imports %s' % (where, line, module))
            for node in ast.walk(parse(path)):
                if isinstance(node, ast.Attribute) and \
                        node.attr.startswith('_') and \
                        not node.attr.startswith('__') and not (
                            isinstance(node.value, ast.Name)
                            and node.value.id in ('self', 'cls')):
                    found.append('%s:%s uses %s' % (where, node.lineno,
                                                    node.attr))
    return sorted(set(found))


def packages_of(test):
    """The folders of `test` that are packages (unittest discover, run in
    test/ by SlapOS's runner, collects those only)."""
    return sorted(name for name in os.listdir(test) if os.path.exists(
        os.path.join(test, name, '__init__.py')))


def smells_in_tests(test):
    """What the tests under `test` must not do: change sys.path, name a
    built file, reach into other objects' private attributes."""
    found = []
    for path in python_files(test):
        tree = parse(path)
        where = os.path.relpath(path, test)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == 'path' and \
                    isinstance(node.value, ast.Name) and \
                    node.value.id == 'sys':
                parent_calls = [n for n in ast.walk(tree)
                                if isinstance(n, ast.Call)
                                and isinstance(n.func, ast.Attribute)
                                and n.func.value is node
                                and n.func.attr in ('insert', 'append')]
                if parent_calls:
                    found.append('%s:%s changes sys.path'
                                 % (where, node.lineno))
            elif isinstance(node, ast.Constant) and \
                    isinstance(node.value, str) and \
                    BUILT_NAME.search(node.value):
                found.append('%s:%s names %r' % (where, node.lineno,
                                                 node.value))
            elif isinstance(node, ast.Attribute) and \
                    node.attr.startswith('_') and \
                    not node.attr.startswith('__') and \
                    node.attr not in FOREIGN_PRIVATE and not (
                        isinstance(node.value, ast.Name)
                        and node.value.id in ('self', 'cls')):
                found.append('%s:%s uses %s' % (where, node.lineno,
                                                node.attr))
    return found


def docstring(path):
    return ast.get_docstring(parse(path)) or ''


def listed(name, text):
    """Whether `text` has a line of its own starting with `name` (then
    spaces or the line's end): the maps' tables."""
    return re.search(r'^\s*%s(\s|$)' % re.escape(name), text, re.M)


def folder_paragraph(design, folder):
    """The paragraph of docs/design.md that starts with **`folder`**."""
    start = design.find('**`%s`**' % folder)
    if start < 0:
        return None
    end = design.find('\n\n', start)
    return design[start:end if end >= 0 else len(design)]


def off_the_maps(top):
    """Each module (and folder) that its package's docstring or its
    folder's paragraph of docs/design.md does not name: the packages of
    slapos_re6st/ in slapos_re6st/__init__.py, each module in its
    package's __init__.py, the folders of test/ in test/conftest.py;
    build/'s files and each package's modules in backquotes in their
    folder's paragraph of docs/design.md."""
    with open(os.path.join(top, 'docs', 'design.md')) as f:
        design = f.read()
    wrong = []

    def in_design(folder, names):
        paragraph = folder_paragraph(design, folder)
        if paragraph is None:
            wrong.append('docs/design.md has no paragraph **`%s`**' % folder)
            return
        for name in names:
            # `name`, `name/`, `name.py` or `name.function`
            if not any(form in paragraph for form in (
                    '`%s`' % name, '`%s/`' % name, '`%s.' % name)):
                wrong.append('docs/design.md (**`%s`**) does not name %s'
                             % (folder, name))

    package = os.path.join(top, 'slapos_re6st')
    subpackages = sorted(n for n in os.listdir(package) if os.path.exists(
        os.path.join(package, n, '__init__.py')))
    for name in subpackages:
        if not listed(name + '/', docstring(
                os.path.join(package, '__init__.py'))):
            wrong.append('slapos_re6st/__init__.py does not name %s/' % name)
        init = os.path.join(package, name, '__init__.py')
        modules = sorted(n[:-3] for n in os.listdir(os.path.join(
            package, name)) if n.endswith('.py') and n != '__init__.py')
        for module in modules:
            if not listed(module, docstring(init)):
                wrong.append('slapos_re6st/%s/__init__.py does not name %s'
                             % (name, module))
        in_design('slapos_re6st/%s/' % name, modules)
    in_design('build/', sorted(n for n in os.listdir(os.path.join(
        top, 'build')) if n.endswith('.py')))
    test = os.path.join(top, 'test')
    folders = sorted(n for n in os.listdir(test) if glob.glob(
        os.path.join(test, n, '*.py')))
    for name in folders:
        if not listed('test/%s/' % name, docstring(
                os.path.join(test, 'conftest.py'))):
            wrong.append('test/conftest.py does not name test/%s/' % name)
    in_design('test/', [n + '/' for n in folders])
    return wrong


class TestLayout(TempDir):

    def write(self, path, text):
        path = self.path(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)

    def test_runtime_code_never_imports_buildout_time_code(self):
        self.assertEqual(runtime_imports_of_buildout_time(TOP), [])
        # the check sees a breach
        self.write('slapos_re6st/service/x.py', 'from .. import recipe\n')
        self.write('slapos_re6st/lib/y.py', 'import zc.buildout\n')
        self.write('slapos_re6st/recipe/z.py', 'import zc.buildout\n')
        self.assertEqual(runtime_imports_of_buildout_time(self.dir), [
            'slapos_re6st/lib/y.py:1 imports zc.buildout',
            'slapos_re6st/service/x.py:1 imports slapos_re6st.recipe'])

    def test_the_build_code_needs_nothing_of_the_release(self):
        wrong = [(path, module) for path in python_files(TOP, 'build')
                 for module, _ in imports(path)
                 if not stdlib(module) and not module.startswith(
                     BUILD_MAY_IMPORT)]
        self.assertEqual(wrong, [])

    def test_no_test_module_imports_another(self):
        self.assertEqual(imports_of_tests(TEST), [])
        self.write('unit/test_a.py', 'from unit import test_b\n')
        self.write('standalone/test_c.py', 'import test_d\n')
        self.assertEqual(imports_of_tests(self.dir), [
            'standalone/test_c.py:1 imports test_d',
            'unit/test_a.py:1 imports unit.test_b'])

    def test_tests_use_public_seams_and_name_no_built_file(self):
        self.assertEqual(smells_in_tests(TEST), [])
        self.write('unit/test_e.py', 'import sys\nsys.path.insert(0, "x")\n'
                   'egg = "cryptography-%s-py3.11-linux-%s.egg"\n'
                   'launcher._check = 1\nself._mine = 1\n'
                   % ('48.0.1', 'x86' + '_64'))
        self.assertEqual(len(smells_in_tests(self.dir)), 3,
                         smells_in_tests(self.dir))

    def test_every_module_is_on_the_maps(self):
        self.assertEqual(off_the_maps(TOP), [])
        # the check sees a breach: a module, a package and a test folder
        # named nowhere
        self.write('docs/design.md', '**`slapos_re6st/a/`** `b`\n\n'
                   '**`build/`** `c.py`\n\n**`test/`** `unit/`\n')
        self.write('slapos_re6st/__init__.py', '"""\n  a/  A\n"""\n')
        self.write('slapos_re6st/a/__init__.py', '"""\n  b  B\n"""\n')
        for path in ('slapos_re6st/a/b.py', 'build/c.py',
                     'test/unit/test_b.py'):
            self.write(path, '')
        self.write('test/conftest.py', '"""\ntest/unit/  U\n"""\n')
        self.assertEqual(off_the_maps(self.dir), [])
        self.write('slapos_re6st/a/bb.py', '')
        self.write('slapos_re6st/d/__init__.py', '')
        self.write('build/e.py', '')
        self.write('test/f/test_f.py', '')
        self.assertEqual(off_the_maps(self.dir), [
            'slapos_re6st/a/__init__.py does not name bb',
            'docs/design.md (**`slapos_re6st/a/`**) does not name bb',
            'slapos_re6st/__init__.py does not name d/',
            'docs/design.md has no paragraph **`slapos_re6st/d/`**',
            'docs/design.md (**`build/`**) does not name e.py',
            'test/conftest.py does not name test/f/',
            'docs/design.md (**`test/`**) does not name f/'])

    def test_the_test_egg_stands_alone(self):
        self.assertEqual(egg_breaches(TEST), [])
        self.write('harness/a.py', 'from slapos_re6st.lib import ca\n'
                   'import support\nx = slap._hidden\n')
        self.write('standalone/test_b.py', 'from tools import attack\n'
                   'from harness import until\n')
        self.assertEqual(egg_breaches(self.dir), [
            'harness/a.py:1 imports slapos_re6st.lib',
            'harness/a.py:1 imports slapos_re6st.lib.ca',
            'harness/a.py:2 imports support',
            'harness/a.py:3 uses _hidden',
            'standalone/test_b.py:1 imports tools',
            'standalone/test_b.py:1 imports tools.attack'])

    def test_unittest_discover_collects_the_slapos_suite_only(self):
        # support/ is a package but holds no test module
        self.assertEqual(packages_of(TEST), ['harness', 'standalone',
                                             'support'])
        self.assertEqual(glob.glob(os.path.join(TEST, 'support', 'test*')),
                         [])
