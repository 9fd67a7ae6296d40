"""bin/bootstrap-instance of the release: this very file, after a first
line naming the release's Python with -S (install(), which the
[bootstrap-instance] part of software.cfg calls, writes it there).

slapos node runs it in a partition before the partition's buildout: it
writes <partition>/sbin/buildout, the release's bin/buildout run by
"python -S", so that an instance run sees the release's eggs and
zc.buildout only, never the packages of the Python environment slapos
itself runs in.  Standard library only (it runs with -S).
"""
import os
import sys


def isolated(text):
    """The text of a buildout script, made to run its Python with -S."""
    lines = text.split('\n')
    if lines[0].startswith('#!/bin/sh'):
        # a long path to python: the second line is '"exec" "PYTHON" "$0" "$@"'
        if '"-S"' not in lines[1]:
            lines[1] = lines[1].replace(' "$0"', ' "-S" "$0"', 1)
    elif not lines[0].endswith(' -S'):
        lines[0] += ' -S'
    return '\n'.join(lines)


def write_script(path, text):
    """An executable file at `path` holding `text`, written only if it
    holds something else, never seen half written."""
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.chmod(path + '.tmp', 0o755)
    os.replace(path + '.tmp', path)


def install(location, python):
    """This file as the executable script `location`, run by `python` -S
    (buildout time)."""
    with open(__file__) as f:
        write_script(location, '#!%s -S\n' % python + f.read())


def main(script=__file__, target='sbin/buildout'):
    bin_directory = os.path.dirname(os.path.abspath(script))
    with open(os.path.join(bin_directory, 'buildout')) as f:
        write_script(target, isolated(f.read()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
