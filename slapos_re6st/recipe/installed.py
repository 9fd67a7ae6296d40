"""Keep buildout's record of the partition (.installed.cfg) from growing.

PyPI's zc.buildout appends a [buildout] section (the list of parts) to
.installed.cfg for every part it updates, and rewrites the whole file only
when it installs a part: on a partition that slapos node runs again and
again, the file grows by one section per part and run, without end (6 KB
a run here), and every run reads it all.  compact() folds those trailing
[buildout] sections into the first one, as buildout itself reads them
(later values win): the same record, one [buildout] section.  It touches
nothing it does not recognise.
"""
import os

from ..lib import files
from . import NoInstall

HEADER = '[buildout]'


def _options(lines):
    """{option: value} of the single-line `key = value` lines of a
    [buildout] section; None if any line is something else."""
    options = {}
    for line in lines:
        if not line.strip():
            continue
        key, equals, value = line.partition('=')
        if not equals or line[:1].isspace() or line.startswith(('#', ';')):
            return None
        options[key.strip()] = value.strip()
    return options


def compacted(text):
    """`text` of an .installed.cfg with its trailing [buildout] sections
    folded into the first one; None when there are none (or the text is
    not laid out as buildout writes it)."""
    lines = text.split('\n')
    headers = [i for i, line in enumerate(lines) if line.startswith('[')]
    if not headers or headers[0] != 0 or lines[0].strip() != HEADER:
        return None
    tail = len(headers)
    while tail > 1 and lines[headers[tail - 1]].strip() == HEADER:
        tail -= 1
    if tail == len(headers):
        return None
    bounds = headers + [len(lines)]
    merged = {}
    for index in [0] + list(range(tail, len(headers))):
        options = _options(lines[bounds[index] + 1:bounds[index + 1]])
        if options is None:
            return None
        merged.update(options)
    first = [HEADER] + ['%s = %s' % item for item in sorted(merged.items())]
    rest = '\n'.join(lines[bounds[1]:headers[tail]]).strip('\n')
    return '\n'.join(first) + '\n' + ('\n' + rest + '\n' if rest else '')


def compact(path):
    """Compact the .installed.cfg at `path` in place (atomically); True if
    it was rewritten."""
    text = files.read(path)
    new = None if text is None else compacted(text)
    if new is None:
        return False
    files.write(path, new, os.stat(path).st_mode & 0o7777)
    return True


class Recipe(NoInstall):
    """Compacts the .installed.cfg of the running buildout when the part is
    read (before this run's own updates append to it).  No options."""

    def __init__(self, buildout, name, options):
        path = buildout['buildout'].get('installed')
        if path:
            compact(os.path.join(buildout['buildout']['directory'], path))
