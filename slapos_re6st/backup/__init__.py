"""Backups of the registry partition, their copy in backup-repository, the
rotation of the registry's log, and restore.

A backup is a directory <directory>/<UTC time, like 20250102T030405Z>/ with
the registry's database and the token manager's (copied with sqlite's
backup API, never as files: both are in use), the CA key (mode 0600), the
CA certificate, the DH file and manifest.json (each file's sha256, the
CA's fingerprint and network).  It is written under a temporary name
(.partial-...) and renamed once complete: a directory with a backup's name
is a whole backup.  One backup (or restore) at a time (<directory>/.lock).

  directory   the backup directory: names, lock, status, deployment time
  snapshot    one backup now, the last `keep` kept
  repository  the partition's git repository, pushed to backup-repository
  push        each backup committed and pushed beside the backups (a
              stalled remote delays none), failures retried
  rotation    the registry's own log, rotated
  loop        the re6st-backup service
  restore     re6st-restore
(What the backup promise checks: slapos_re6st.promise.backup.)
"""
