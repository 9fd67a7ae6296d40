"""The CA certificate does not end within warn-days days (re6st nodes
fetch a new CA certificate within 30 days of its end)."""
import datetime

from ..lib.ca import load_certificate
from .base import CheckPromise


def ca_lifetime(cert_path, key_path, renew_command, warn_days):
    """(True, until when the CA certificate is valid) or (False, a warning
    naming its end and the renewal command) when it ends within
    `warn_days` days, on the real clock (tests move it with faketime)."""
    end = load_certificate(cert_path).not_valid_after_utc
    left = end - datetime.datetime.now(datetime.timezone.utc)
    when = end.strftime('%Y-%m-%d %H:%M:%S UTC')
    if left >= datetime.timedelta(days=warn_days):
        return True, 'The CA certificate %s is valid until %s (%s days).' % (
            cert_path, when, left.days)
    if left <= datetime.timedelta(0):
        state = 'expired on %s' % when
    else:
        state = 'expires on %s, in %s days (less than %s)' % (
            when, left.days, warn_days)
    return False, (
        'The CA certificate %s %s: re6st nodes fetch a new CA certificate'
        ' from the registry within 30 days of its end.  Renew it with the'
        ' same key now: run `%s --key %s --cert %s` as the partition\'s'
        ' user, then run the instance again, which restarts the registry'
        ' with it (see docs/operations.md, Renewing the CA).'
        % (cert_path, state, renew_command, key_path, cert_path))


class RunPromise(CheckPromise):
    """Configuration: cert, key, renew-command, warn-days."""

    def check(self):
        return ca_lifetime(self.getConfig('cert'), self.getConfig('key'),
                           self.getConfig('renew-command'),
                           int(self.getConfig('warn-days')))
