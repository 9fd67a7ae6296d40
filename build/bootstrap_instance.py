"""bin/bootstrap-instance of the release (the [bootstrap-instance] part of
software.cfg copies this file there, after a first line naming the
release's Python with -S).

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


def main(script=__file__, target='sbin/buildout'):
    bin_directory = os.path.dirname(os.path.abspath(script))
    with open(os.path.join(bin_directory, 'buildout')) as f:
        text = isolated(f.read())
    try:
        with open(target) as f:
            if f.read() == text:
                return 0
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target + '.tmp', 'w') as f:
        f.write(text)
    os.chmod(target + '.tmp', 0o755)
    os.replace(target + '.tmp', target)
    return 0


if __name__ == '__main__':
    sys.exit(main())
