"""What every promise of the partition is: a slapos promise plugin whose
check returns (ok, one sentence).

slapos node runs a partition's plugins (etc/plugin/*.py, written by
slapos.cookbook's promise.plugin recipe with `eggs = slapos_re6st`) with
the release's own Python, on the paths the first plugin assigns to
sys.path[0:0]: the release's eggs, its slapos.core among them.  Each
module of this folder is one plugin: a check, and RunPromise calling it
with the plugin's configuration (the recipe's config-* options).
"""
from zope.interface import implementer
from slapos.grid.promise import interface
from slapos.grid.promise.generic import GenericPromise


@implementer(interface.IPromise)
class CheckPromise(GenericPromise):
    """Runs self.check() every minute; the instance run fails while it
    fails (test), and so does monitoring (anomaly)."""

    def __init__(self, config):
        super().__init__(config)
        self.setPeriodicity(minute=1)

    def check(self):
        """(True, what is fine) or (False, what is wrong and what to do)."""
        raise NotImplementedError

    def sense(self):
        try:
            ok, message = self.check()
        except Exception as e:
            ok, message = False, 'The check could not run: %r' % e
        if ok:
            self.logger.info('%s', message)
        else:
            self.logger.error('%s', message)

    def test(self):
        return self._test(result_count=1, failure_amount=1)

    def anomaly(self):
        return self._anomaly(result_count=1, failure_amount=1)
