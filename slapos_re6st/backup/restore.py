"""Restore a backup of re6st-backup into a registry partition (the
command: re6st-restore, slapos_re6st.cli.restore).

Meant for a fresh instance requested with the backup's ipv6-prefix (and
key-size): the backup's CA files replace the partition's, and both
databases are restored with sqlite's backup API (they are in use).  What
they replace is first copied to <backup directory>/before-restore-<UTC
time>/ (a backup of its own, never removed automatically).  Then the
registry and the token manager are sent SIGTERM: re6st-service starts them
again, with the restored CA and databases; a backup of what was restored
is made (and pushed to backup-repository, if set).  The next instance run
publishes the restored CA's fingerprint.

Run it as the partition's user.  The partition's etc/re6st-backup.json
names every path and the prefix that the instance was requested with.
"""
import ipaddress
import json
import os
import signal
import sqlite3
import time
import urllib.parse

from ..lib import ca, files
from ..lib.process import process_of
from ..lib.wait import wait_for
from .directory import (
    BEFORE_RESTORE, CA_CERT, CA_KEY, DH, MANIFEST, REGISTRY_DB, TOKENS_DB,
    BackupError, Lock, ca_files, databases, host_node_files, load_config,
    new_name)
from .snapshot import backup, snapshot

CONFIG = os.path.join('etc', 're6st-backup.json')
# how long a restore waits for the services to start again
RESTART_TIMEOUT = 30


class RestoreError(Exception):
    """Why the restore was refused or failed, as a sentence."""


def read_backup(path):
    """The manifest of the backup at `path`, once every file it lists is
    there with its sha256.  RestoreError otherwise."""
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise RestoreError(
            '%s is not a backup of re6st-backup (%s): give a directory like'
            ' srv/backup/20250102T030405Z of a registry partition.'
            % (path, e))
    listed = manifest.get('files', {})
    needed = (CA_KEY, CA_CERT, DH, REGISTRY_DB, TOKENS_DB)
    missing = [name for name in needed if name not in listed]
    if missing:
        raise RestoreError('The backup %s has no %s: restore a complete'
                           ' backup.' % (path, ', '.join(missing)))
    for name, digest in sorted(listed.items()):
        member = os.path.join(path, name)
        try:
            actual = files.sha256(member)
        except OSError as e:
            raise RestoreError('The backup %s is damaged: %s.' % (path, e))
        if actual != digest:
            raise RestoreError(
                'The backup %s is damaged: %s is not what the backup wrote'
                ' (sha256 differs): restore another backup.' % (path, name))
    return manifest


def backup_ca(path):
    """(CA certificate, CA key) of the backup at `path`; RestoreError when
    the key is not the certificate's."""
    cert = ca.load_certificate(os.path.join(path, CA_CERT))
    key = ca.load_key(os.path.join(path, CA_KEY))
    if not ca.same_key(key, cert):
        raise RestoreError('The backup %s holds a CA key that is not its CA'
                           " certificate's: restore another backup." % path)
    return cert, key


def mismatches(cert, key, config):
    """Sentences for what the instance was requested with and the backup's
    CA contradicts (the next instance run would refuse it)."""
    found = []
    prefix = ca.serial_prefix(cert.serial_number)
    requested = ipaddress.IPv6Network(config['ipv6-prefix'])
    if prefix != requested:
        found.append(
            "The backup's CA is bound to the network %s but this instance"
            ' was requested with ipv6-prefix %s: request it with'
            ' ipv6-prefix %s (a fresh instance), run it, then restore; or'
            ' restore with --force, after which the instance runs refuse'
            ' every request for another ipv6-prefix than %s.'
            % (prefix, requested, prefix, prefix))
    if key.key_size != int(config['key-size']):
        found.append(
            "The backup's CA key has %s bits but this instance was requested"
            ' with key-size %s: request it with key-size %s, or restore'
            ' with --force, after which the instance runs refuse every'
            ' request for another key-size.'
            % (key.key_size, config['key-size'], key.key_size))
    return found


def restore_database(source, target):
    """Write the database `source` over the database `target` (in use)
    with sqlite's backup API."""
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    if not os.path.exists(target):
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600))
    src = sqlite3.connect('file:%s?mode=ro' % urllib.parse.quote(source),
                          uri=True)
    try:
        dst = sqlite3.connect(target, timeout=60)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def restart(config, timeout=RESTART_TIMEOUT):
    """SIGTERM to the registry and the token manager, then wait (at most
    `timeout` seconds) until re6st-service has started each again: when
    the restore returns, the services run on the restored files, and no
    restart is pending.  Returns {service: PID signalled, or None if it
    was not running}."""
    signalled = {}
    for key in 'registry-pidfile', 'tokens-pidfile':
        pidfile = config[key]
        name = os.path.basename(pidfile)[:-len('.pid')]
        pid = process_of(pidfile)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pid = None
        signalled[name] = pid
    for key in 'registry-pidfile', 'tokens-pidfile':
        old = signalled[os.path.basename(config[key])[:-len('.pid')]]
        if old is not None:
            wait_for(lambda: process_of(config[key]) not in (None, old),
                     timeout, 0.1)
    return signalled


def restore(backup_path, partition, force=False,
            restart_timeout=RESTART_TIMEOUT):
    """Restore the backup at `backup_path` into `partition`, then wait at
    most `restart_timeout` seconds for its services to start again.
    Returns (where the replaced files were kept, the backup's manifest,
    what restart returned, the mismatches that `force` overrode, the
    restored registry's first backup: its path, or the BackupError).
    RestoreError with a sentence when refused."""
    backup_path = os.path.abspath(backup_path)
    partition = os.path.abspath(partition)
    config_path = os.path.join(partition, CONFIG)
    try:
        config = load_config(config_path)
    except (OSError, ValueError) as e:
        raise RestoreError(
            'Cannot read %s (%s): give the path of a registry partition'
            ' that this release deployed.' % (config_path, e))
    owner = os.stat(partition).st_uid
    if os.geteuid() != owner:
        raise RestoreError(
            'Run re6st-restore as the partition\'s user (uid %s), not uid'
            ' %s: the restored files must be theirs.' % (owner, os.geteuid()))
    manifest = read_backup(backup_path)
    cert, key = backup_ca(backup_path)
    found = mismatches(cert, key, config)
    if found and not force:
        raise RestoreError(' '.join(found))
    directory = config['directory']
    with Lock(directory):
        try:
            kept = snapshot(config, directory,
                            new_name(directory, BEFORE_RESTORE, time.time()),
                            missing_ok=True)
        except (BackupError, OSError, sqlite3.Error, ValueError) as e:
            raise RestoreError(
                'Keeping a copy of what the restore replaces failed, so'
                ' nothing was restored: %s  If that file is damaged beyond'
                ' copying, move it out of the partition and run re6st-restore'
                ' again.' % str(e).rstrip())
        try:
            for member, path, mode in ca_files(config) + [
                    f for f in host_node_files(config)
                    if f[0] in manifest['files']]:
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                files.write(path, files.read(
                    os.path.join(backup_path, member), binary=True), mode)
            for member, path in databases(config):
                restore_database(os.path.join(backup_path, member), path)
        except (OSError, sqlite3.Error) as e:
            raise RestoreError(
                'The restore failed half-way (%s): what it replaced is in %s;'
                ' restore that directory, or the backup again, with'
                ' re6st-restore.' % (e, kept))
        signalled = restart(config, restart_timeout)
    # the restored registry's first backup, now: until then the newest
    # backup was the replaced CA's, which backup-repository (the restored
    # network's) would refuse
    try:
        first = backup(config)
    except BackupError as e:
        first = e
    return kept, manifest, signalled, found, first
