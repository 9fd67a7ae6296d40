"""A server on loopback that accepts connections and never answers, or
answers a byte a second: a remote that stalls (backup-repository over
http or ssh)."""
import socket
import threading
import time


class Tarpit:
    """Listening on 127.0.0.1:`port`.  `drip` None: reads and discards
    what comes, sends nothing; else sends `drip`, then b'x', one byte a
    second.  Every connection is closed by close()."""

    def __init__(self, drip=None):
        self.drip = drip
        self.server = socket.socket()
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.closed = threading.Event()
        self.connections = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self.serve, args=(connection,),
                             daemon=True).start()

    def serve(self, connection):
        if self.drip is None:
            try:
                while connection.recv(4096):
                    pass
            except OSError:
                pass
            return
        connection.setblocking(False)
        data = self.drip
        while not self.closed.is_set():
            try:
                connection.send(data[:1] or b'x')
                connection.recv(4096)
            except BlockingIOError:
                pass
            except OSError:
                return
            data = data[1:]
            time.sleep(1)

    def close(self):
        self.closed.set()
        self.server.close()
        for connection in self.connections:
            connection.close()
