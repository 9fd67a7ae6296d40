"""The value of backup-repository: where backups are pushed, and the
credentials in it.

  /path/to/repository.git, file:///path/to/repository.git
                                  a repository on this host
  https://[USER[:PASSWORD]@]HOST[:PORT]/PATH (or http://)
  ssh://[USER@]HOST[:PORT]/PATH, [USER@]HOST:PATH
                                  with the partition's own ssh key
                                  (published as backup-ssh-public-key)

parse() checks a value and tells what git is given (never the password),
redact() shows a value in a sentence with its password replaced by ***.
"""
import json
import os
import re
import urllib.parse

from . import files

SCHEME = re.compile(r'^([A-Za-z][A-Za-z0-9+.-]*)://')
# git's scp-like syntax: [user@]host:path, the colon before any slash.
SCP_LIKE = re.compile(r'^(?:([^@/\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+)'
                      r':(?!//)(.+)$')
WHAT = ('an absolute path or file:// URL of a git repository on this host,'
        ' an https:// (or http://) URL, or an ssh URL (ssh://[USER@]HOST/PATH'
        ' or [USER@]HOST:PATH)')
HIDDEN_PASSWORD = '***'


class Remote:
    """A parsed backup-repository: kind ('path', 'http', 'ssh'), url (what
    git is given: never with a password), username, password, shown (for
    sentences: the value with its password replaced by ***)."""

    def __init__(self, kind, value, url=None, username=None, password=None):
        self.kind = kind
        self.url = value if url is None else url
        self.username = username
        self.password = password
        self.shown = redact(value)


def redact(url):
    """`url` with the password of an http(s) URL replaced by ***, for
    sentences (what parse refuses is redacted as well as can be)."""
    match = SCHEME.match(url)
    if not match:
        return url
    scheme_end = match.end()
    rest = url[scheme_end:]
    netloc = rest.split('/', 1)[0]
    if '@' not in netloc:
        return url
    userinfo, _, host = netloc.rpartition('@')
    if ':' not in userinfo:
        return url
    user = userinfo.split(':', 1)[0]
    return (url[:scheme_end] + '%s:%s@%s' % (user, HIDDEN_PASSWORD, host)
            + rest[len(netloc):])


def parse(value):
    """The Remote of a backup-repository value; ValueError with a sentence
    naming what is wrong and what is allowed."""
    shown = json.dumps(redact(value))
    if not value or re.search(r'[\s\x00-\x1f\x7f]', value):
        raise ValueError("'backup-repository' is %s but must be %s, without"
                         ' spaces or control characters.' % (shown, WHAT))
    if value.startswith('/'):
        if os.path.normpath(value) != value.rstrip('/'):
            raise ValueError("'backup-repository' is %s but a path must be"
                             ' absolute and normalised, like %s.'
                             % (shown, json.dumps(os.path.normpath(value))))
        return Remote('path', value)
    match = SCHEME.match(value)
    if match:
        scheme = match.group(1).lower()
        split = urllib.parse.urlsplit(value)
        try:
            split.port
        except ValueError:
            raise ValueError("'backup-repository' is %s but its port is not"
                             ' a number from 1 to 65535.' % shown)
        if scheme == 'file':
            if split.netloc not in ('', 'localhost') or not split.path:
                raise ValueError("'backup-repository' is %s but a file URL"
                                 ' must name an absolute path on this host,'
                                 ' like file:///srv/git/registry.git.'
                                 % shown)
            return Remote('path', value)
        if scheme in ('http', 'https'):
            if not split.hostname or split.path in ('', '/'):
                raise ValueError("'backup-repository' is %s but an %s URL"
                                 ' must name a host and a repository path,'
                                 ' like %s://git.example.com/registry.git.'
                                 % (shown, scheme, scheme))
            if split.query or split.fragment:
                raise ValueError("'backup-repository' is %s but git URLs"
                                 ' have no ?query nor #fragment: remove'
                                 ' them.' % shown)
            username = password = None
            netloc = split.netloc
            if '@' in netloc:
                userinfo, _, host = netloc.rpartition('@')
                user, colon, secret = userinfo.partition(':')
                username = urllib.parse.unquote(user) or None
                password = urllib.parse.unquote(secret) if colon else None
                if password == '':
                    password = None
                netloc = ('%s@%s' % (user, host)) if user else host
                if password and not username:
                    raise ValueError(
                        "'backup-repository' is %s: a password needs a user"
                        ' name before it (https://USER:PASSWORD@HOST/PATH;'
                        ' with a token, the user name your git hosting'
                        ' asks for, like oauth2).' % shown)
            url = urllib.parse.urlunsplit(split._replace(netloc=netloc))
            return Remote('http', value, url, username, password)
        if scheme in ('ssh', 'git+ssh', 'ssh+git'):
            if not split.hostname or split.path in ('', '/'):
                raise ValueError("'backup-repository' is %s but an ssh URL"
                                 ' must name a host and a repository path,'
                                 ' like ssh://git@git.example.com/registry.git.'
                                 % shown)
            if split.password is not None:
                raise ValueError(
                    "'backup-repository' is %s but ssh logs in with the"
                    " partition's key (backup-ssh-public-key), never with a"
                    " password: remove ':PASSWORD' from the URL." % shown)
            return Remote('ssh', value)
        if scheme == 'git':
            raise ValueError("'backup-repository' is %s but the git://"
                             ' protocol cannot push: use the ssh or https'
                             ' URL of the same repository.' % shown)
        raise ValueError("'backup-repository' is %s but %s:// is not"
                         ' supported: it must be %s.' % (shown, scheme, WHAT))
    if SCP_LIKE.match(value):
        return Remote('ssh', value)
    raise ValueError("'backup-repository' is %s but must be %s."
                     % (shown, WHAT))


def read_url(path):
    """The backup-repository written by the backup recipe into `path`
    ('' when there is none)."""
    return files.read(path, '').strip()
