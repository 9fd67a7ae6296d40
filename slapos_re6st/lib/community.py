"""The community parameter: re6st-registry's community configuration,
read as re6st reads it, and what re6st would refuse or silently misread
in it."""
import re

from .sentences import describe

# Characters that are not text in a multi-line text (line breaks and tabs
# are).
COMMUNITY_FORBIDDEN = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]')
# Continent codes of GeoIP2 databases, as re6st's communities name them
# (with a leading @).
CONTINENTS = ('AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA')


def community_entries(text):
    """[(line number, prefix, [location, ...])] of a community
    configuration, read as re6st-registry reads it: blank lines and lines
    starting with # are skipped, the others split on whitespace."""
    entries = []
    # re6st reads it as a text file: universal newlines
    for number, line in enumerate(re.split('\r\n|\r|\n', text), 1):
        line = line.strip()
        if line and not line.startswith('#'):
            fields = line.split()
            entries.append((number, fields[0], fields[1:]))
    return entries


def located(text):
    """The locations the community configuration names, but *."""
    return sorted({location for _, _, locations in community_entries(text)
                   for location in locations if location != '*'})


def longest_prefix(text):
    """The length of the longest prefix of a valid community
    configuration (0 without one)."""
    return max((len(prefix) for _, prefix, _ in community_entries(text)),
               default=0)


def _problem(number, what):
    return "'community' line %s %s." % (number, what)


def _location_problems(number, locations, seen):
    """What is wrong with the locations of line `number`; `seen`: {location:
    the line that named it first}, updated."""
    found = []
    if not locations:
        found.append(_problem(number, 'names no location: add country codes'
                              ' (FR), continent codes (@EU) or *'))
    for location in locations:
        if not (location == '*' or re.fullmatch('[A-Z]{2}', location)
                or location[:1] == '@' and location[1:] in CONTINENTS):
            found.append(_problem(
                number, 'names the location %s but a location must be a'
                ' country code in upper case (FR), @ and a continent code'
                ' (%s) or *' % (describe(location),
                                ', '.join('@' + c for c in CONTINENTS))))
        elif location != '*' and seen.get(location, number) != number:
            found.append(_problem(
                number, 'names %s, already named on line %s: a location'
                ' belongs to one community' % (location, seen[location])))
        else:
            seen.setdefault(location, number)
    return found


def _entry_problems(number, prefix, locations, prefixes, seen):
    """What is wrong with line `number`; `prefixes` and `seen`: {prefix or
    location: the line that named it first}, updated."""
    if not re.fullmatch('[01]+', prefix):
        return [_problem(number, 'starts with %s but must start with a'
                         ' prefix of 0s and 1s, like 0010' % describe(prefix))]
    found = []
    if prefix in prefixes:
        found.append(_problem(number, 'repeats the prefix %s of line %s: each'
                              ' community has one line'
                              % (prefix, prefixes[prefix])))
    prefixes.setdefault(prefix, number)
    return found + _location_problems(number, locations, seen)


def _overlap_problems(prefixes):
    """Prefixes inside others ({prefix: line})."""
    ordered = sorted(prefixes)
    return [_problem(prefixes[longer], 'has the prefix %s, inside the prefix'
                     ' %s of line %s: communities must not overlap'
                     % (longer, shorter, prefixes[shorter]))
            for shorter, longer in zip(ordered, ordered[1:])
            if longer.startswith(shorter)]


def community_problems(text):
    """What re6st-registry would refuse, or silently misread, in a
    community configuration; one sentence each."""
    if COMMUNITY_FORBIDDEN.search(text):
        return ["'community' contains control characters: only text lines"
                " (and tabs) are allowed."]
    entries = community_entries(text)
    found, prefixes, seen = [], {}, {}
    for number, prefix, locations in entries:
        found += _entry_problems(number, prefix, locations, prefixes, seen)
    found += _overlap_problems(prefixes)
    defaults = sum('*' in locations for _, _, locations in entries)
    if defaults != 1:
        found.append("'community' names the default location * on %s lines"
                     " but exactly one line must have it (it takes the nodes"
                     " no other line takes)." % defaults)
    return found
