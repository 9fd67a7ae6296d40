"""The release's own Python and zc.buildout, for a SlapOS node whose
slapos runs buildout on a Python older than 3.11 (SlapOS's node packages
today: Python 3.9 and SlapOS's fork of zc.buildout, 3.0.1+slapos010).

software.cfg then has one part, [rebootstrap], whose init calls main():
1. the release's Python: the first of the node's Pythons (python3.11,
   python3.12, python3.13) with what the release needs (venv, ssl,
   sqlite3, ... and Python.h), else CPython built from the tarball the
   profile names by URL and md5sum, through buildout's download (and so
   its download cache);
2. parts/release-python: a virtual environment of that Python holding the
   zc.buildout the profile pins in [versions], with its dependencies;
3. bin/buildout made again by that zc.buildout (`buildout bootstrap`);
4. the same buildout command again, on it (os.execv): the profile then
   takes its usual path, and later `slapos node software` runs use
   bin/buildout as it now is.
All of it happens while buildout initializes the part, before it
uninstalls or installs anything: .installed.cfg is only ever written by
the new zc.buildout.

It runs on slapos's own Python: standard library only, Python 3.9.
"""
import os
import shlex
import shutil
import subprocess
import sys

# what the release needs of its Python: module -> the Debian package
# CPython's build needs for it (None: always built)
MODULES = {
    'ssl': 'libssl-dev',
    'sqlite3': 'libsqlite3-dev',
    'ctypes': 'libffi-dev',
    'zlib': 'zlib1g-dev',
    'bz2': 'libbz2-dev',
    'lzma': 'liblzma-dev',
    'venv': None,
    'ensurepip': None,
}
# printed by a candidate Python: what it lacks, space separated
CHECK = '''
import importlib, os, sys, sysconfig
missing = [] if sys.version_info >= (3, 11) else ['python>=3.11']
for name in %r:
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
include = sysconfig.get_paths()['include']
if not os.path.exists(os.path.join(include, 'Python.h')):
    missing.append('Python.h')
print(' '.join(missing))
''' % sorted(MODULES)
# where else than PATH a Python may be (slapos runs buildout with a
# minimal PATH)
EXTRA_PATH = ('/usr/local/bin', '/usr/bin')
STAMP = '.release-python'


class Refused(Exception):
    """What stops the build, as one sentence for the operator."""


def missing(python):
    """What `python` lacks for the release (a list, empty when it is
    suitable), or None when it does not run."""
    try:
        out = subprocess.run(
            [python, '-I', '-c', CHECK], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, universal_newlines=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return out.stdout.split()


def find_python(candidates, path=None):
    """(the first suitable Python among `candidates`, names or absolute
    paths, or None; {candidate: what it lacks} for the others found)."""
    search = os.pathsep.join(
        [path if path is not None else os.environ.get('PATH', '')]
        + list(EXTRA_PATH))
    unsuitable = {}
    for name in candidates:
        found = (name if os.path.isabs(name)
                 else shutil.which(name, path=search))
        if not found or not os.access(found, os.X_OK):
            continue
        lacks = missing(found)
        if lacks == []:
            return found, unsuitable
        unsuitable[found] = lacks if lacks is not None else ['(does not run)']
    return None, unsuitable


def debian_packages(lacks, python=None):
    """The Debian packages that would give what `lacks` names: to build
    CPython, or else for the Debian interpreter `python` (python3.11...)."""
    if python is None:
        packages = [MODULES.get(name) for name in lacks]
    else:
        name = os.path.basename(python)
        packages = [name + '-venv' if lack in ('venv', 'ensurepip')
                    else name + '-dev' if lack == 'Python.h' else None
                    for lack in lacks]
    return sorted({p for p in packages if p})


def read_stamp(prefix):
    try:
        with open(os.path.join(prefix, STAMP)) as f:
            return f.read()
    except OSError:
        return None


def tail(path, lines=30):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def build_python(url, md5sum, prefix, download, jobs=None, run=None):
    """CPython from the source tarball `url` (checked against `md5sum`),
    installed in `prefix`; its executable.  Kept from one run to the next
    (a stamp names what it was built from).  The build's output goes to
    `prefix`.log."""
    run = run or subprocess.check_call
    python = os.path.join(prefix, 'bin', 'python3')
    stamp = '%s %s\n' % (url, md5sum)
    if read_stamp(prefix) == stamp and missing(python) == []:
        return python
    tools = [tool for tool in ('cc', 'make') if not shutil.which(tool)]
    if tools:
        raise Refused(
            'No Python >= 3.11 with what the release needs is installed,'
            ' and CPython cannot be built here: %s missing. Install'
            ' python3.11 with python3.11-venv and python3.11-dev, or gcc,'
            ' make and %s (Debian names), and run the build again.' % (
                ' and '.join(tools) + (' is' if len(tools) == 1 else ' are'),
                ', '.join(sorted({p for p in MODULES.values() if p}))))
    source, is_temp = download(url, md5sum=md5sum)
    work = prefix + '.build'
    log = prefix + '.log'
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(work)
    try:
        with open(log, 'w') as output:
            for command in (
                    ['tar', '-xzf', source, '-C', work,
                     '--strip-components=1'],
                    ['./configure', '--prefix=' + prefix, '--enable-ipv6',
                     '--disable-test-modules', '--with-ensurepip=no'],
                    ['make', '-j%s' % (jobs or os.cpu_count() or 1)],
                    ['make', 'install']):
                run(command, cwd=work, stdout=output,
                    stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError as e:
        shutil.rmtree(prefix, ignore_errors=True)
        raise Refused('Building CPython from %s failed (%s exited with'
                      ' %s; its output is in %s), ending with:\n%s' % (
                          url, shlex.join(e.cmd[:2]), e.returncode, log,
                          tail(log)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if is_temp:
            os.remove(source)
    lacks = missing(python)
    if lacks != []:
        shutil.rmtree(prefix, ignore_errors=True)
        raise Refused(
            'CPython from %s was built without %s: install %s (Debian'
            ' names) and run the build again.' % (
                url, ', '.join(lacks or ['a working interpreter']),
                ', '.join(debian_packages(lacks or []) or ['gcc'])))
    with open(os.path.join(prefix, STAMP), 'w') as f:
        f.write(stamp)
    return python


def make_venv(python, location, requirements, run=None):
    """The virtual environment `location` of `python` holding exactly the
    pinned `requirements` ("name==version"); its python.  Made again only
    when the Python or the requirements change."""
    run = run or subprocess.check_call
    stamp = '%s\n%s\n' % (os.path.realpath(python), '\n'.join(requirements))
    executable = os.path.join(location, 'bin', 'python')
    if read_stamp(location) == stamp and os.path.exists(executable):
        return executable
    shutil.rmtree(location, ignore_errors=True)
    try:
        run([python, '-m', 'venv', location])
        run([executable, '-m', 'pip', 'install',
             '--disable-pip-version-check', '--no-input', '--no-deps',
             '--quiet'] + list(requirements))
    except subprocess.CalledProcessError as e:
        shutil.rmtree(location, ignore_errors=True)
        raise Refused('Installing %s with %s into %s failed (%s exited with'
                      ' %s): see the output above (PyPI must be reachable).'
                      % (', '.join(requirements), python, location,
                         shlex.join(e.cmd[1:3]), e.returncode))
    with open(os.path.join(location, STAMP), 'w') as f:
        f.write(stamp)
    return executable


def command_options(args):
    """The options of a buildout command line (-c file, -N, key=value,
    ...), without its command and the command's arguments."""
    options = []
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg.startswith('-') and not arg.startswith('--'):
            options.append(arg)
            flags = arg[1:]
            # -c and -t take a value: the rest of the word, else the next
            for i, flag in enumerate(flags):
                if flag in 'ct':
                    if i == len(flags) - 1 and args:
                        options.append(args.pop(0))
                    break
        elif arg.startswith('--') or '=' in arg:
            options.append(arg)
        else:
            break
    return options


def requirements(versions, names):
    """"name==version" of each of `names`, from the [versions] pins."""
    unpinned = [name for name in names if not versions.get(name)]
    if unpinned:
        raise Refused('[versions] pins no version of %s: pin it.'
                      % ', '.join(unpinned))
    return ['%s==%s' % (name, versions[name]) for name in names]


def main(buildout, options, log):
    """Steps 1 to 4 of this module's docstring; never returns."""
    import zc.buildout
    import zc.buildout.download
    settings = buildout['buildout']
    try:
        python, unsuitable = find_python(options['python-candidates'].split())
        for found, lacks in unsuitable.items():
            log.info('%s cannot be the release\'s Python: it lacks %s (%s).',
                     found, ', '.join(lacks),
                     ', '.join(debian_packages(lacks, found))
                     or 'too old')
        if python is None:
            log.info('Building CPython from %s (several minutes).',
                     options['python-url'])
            python = build_python(
                options['python-url'], options['python-md5sum'],
                options['python-location'],
                zc.buildout.download.Download(settings))
        log.info('The release\'s Python: %s.', python)
        executable = make_venv(python, options['location'], requirements(
            buildout['versions'], options['buildout-eggs'].split()))
    except Refused as e:
        raise zc.buildout.UserError(str(e))
    bootstrap = [os.path.join(options['location'], 'bin', 'buildout')] + (
        command_options(sys.argv[1:]) + ['bootstrap'])
    if subprocess.call(bootstrap, cwd=settings['directory']):
        raise zc.buildout.UserError(
            '%s failed: see its output above.' % shlex.join(bootstrap))
    script = os.path.join(settings['bin-directory'], 'buildout')
    log.info('Running buildout again, on the release\'s Python and'
             ' zc.buildout: %s.', script)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(executable, [executable, script] + sys.argv[1:])
