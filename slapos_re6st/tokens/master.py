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

    def publish(self, reference, parameters):
        self.partition.setConnectionDict(
            {'_': json.dumps(parameters, sort_keys=True)}, reference)
