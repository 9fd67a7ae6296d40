"""The registry's own node runs, is its main node, and babeld's socket is
readable (lib.host_node.status); its certificate is far from the day the
registry would exit for it.  For monitoring only (anomaly): a host
without the node (the embedded SlapOS of `make run`, say) still deploys,
with the status published."""
from ..lib.host_node import status
from .base import CheckPromise


class RunPromise(CheckPromise):
    """Configuration: db (the registry's database), directory (the host
    node's files), run, grace-period."""

    def __init__(self, config):
        super().__init__(config)
        self.setTestLess()

    def check(self):
        return status(self.getConfig('db'), self.getConfig('directory'),
                      self.getConfig('run'),
                      int(self.getConfig('grace-period')))
