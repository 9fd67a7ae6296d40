"""The release's eggs as offline buildout finds them (run by the
[instance-eggs] part of software.cfg).

slapos node runs instance profiles offline, and PyPI's buildout, offline,
only finds eggs in the old format (EGG-INFO): those it installed itself
hold a .dist-info instead.  present() shows each egg of the release in the
old format, in a directory of its own: a directory of links to the egg's
files, and an EGG-INFO made from its .dist-info.  (Links to the eggs as
.egg-link files would do too, but buildout takes those for develop eggs
and hashes every file of them on each instance run.)
"""
import email.parser
import glob
import os
import shutil


def requirement_text(requirement):
    """A requirement as requires.txt writes it, without its marker."""
    extras = ('[%s]' % ','.join(sorted(requirement.extras))
              if requirement.extras else '')
    return requirement.name + extras + str(requirement.specifier)


def requires_txt(metadata):
    """The requires.txt of an egg whose METADATA is `metadata` (an
    email.message.Message): unconditional requirements first, then one
    [extra] section per extra."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    extras = metadata.get_all('Provides-Extra') or []
    sections = {extra: [] for extra in [''] + extras}
    for line in metadata.get_all('Requires-Dist') or []:
        r = Requirement(line)
        for extra in sections:
            if r.marker is None and extra == '' or (
                    r.marker is not None and r.marker.evaluate(
                        dict(default_environment(), extra=extra))):
                sections[extra].append(requirement_text(r))
                break
    text = '\n'.join(sections.pop(''))
    for extra, lines in sections.items():
        text += '\n\n[%s]\n%s' % (extra, '\n'.join(lines))
    return text.strip() + '\n'


def present_egg(egg, target):
    """Show the egg directory `egg` at `target` in the old egg format."""
    if os.path.isdir(os.path.join(egg, 'EGG-INFO')):
        os.symlink(egg, target)  # already in the old format
        return
    info, = glob.glob(os.path.join(egg, '*.dist-info'))
    os.makedirs(os.path.join(target, 'EGG-INFO'))
    for name in os.listdir(egg):
        os.symlink(os.path.join(egg, name), os.path.join(target, name))
    with open(os.path.join(info, 'METADATA'), encoding='utf-8') as f:
        metadata = email.parser.Parser().parse(f)
    with open(os.path.join(target, 'EGG-INFO', 'requires.txt'), 'w') as f:
        f.write(requires_txt(metadata))
    shutil.copyfile(os.path.join(info, 'METADATA'),
                    os.path.join(target, 'EGG-INFO', 'PKG-INFO'))
    for name in 'entry_points.txt', 'top_level.txt':
        if os.path.exists(os.path.join(info, name)):
            shutil.copyfile(os.path.join(info, name),
                            os.path.join(target, 'EGG-INFO', name))


def present(eggs_directory, location):
    """Every egg of `eggs_directory`, presented anew in `location`."""
    shutil.rmtree(location, ignore_errors=True)
    os.makedirs(location)
    for egg in sorted(glob.glob(os.path.join(eggs_directory, '*.egg'))):
        present_egg(egg, os.path.join(location, os.path.basename(egg)))
