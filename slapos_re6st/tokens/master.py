"""Where the token manager publishes: the shared instances' connection
parameters, on the SlapOS master."""
import json


class Master:
    """Publishes connection parameters on shared instances."""

    def __init__(self, url, computer, partition, key=None, cert=None):
        from slapos import slap
        connection = slap.slap()
        connection.initializeConnection(url, key or None, cert or None)
        self.partition = connection.registerComputerPartition(
            computer, partition)

    def publish(self, reference, parameters, plain=None):
        """`parameters` serialised (as "_"), and the `plain` ones beside
        it as they are (what SlapOS's re6stnet release published, for a
        token instance adopted from it)."""
        values = dict(plain or {})
        values['_'] = json.dumps(parameters, sort_keys=True)
        self.partition.setConnectionDict(values, reference)
