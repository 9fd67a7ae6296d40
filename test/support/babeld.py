"""A stand-in for Nexedi's babeld (which re6stnet 0.642 needs: Debian's
babeld lacks its -X control socket), answering on that control socket in
re6st's own protocol (re6st/ctl.py): a client sends one byte, then
packets (type, length, payload); a Dump (type 1) is answered with
interfaces, neighbours, exported and installed routes, here the `routes`
given (prefix, length), as if learnt from one neighbour.  It routes
nothing.  Run as a script, it stands for the babeld program re6stnet
starts (its -X socket, its -I pid file), standard library only; it never
closes a connection (re6stnet stops when babeld does)."""
import ipaddress
import os
import signal
import socket
import struct
import sys
import threading

HEADER = struct.Struct('!HI')
NEIGHBOUR = struct.Struct('!16sIHHHHHiHH')
ROUTE = struct.Struct('!16sBHHH8siiI16s16sB')
NEIGHBOUR_ADDRESS = ipaddress.IPv6Address('fe80::2').packed


def dump(routes):
    """The payload of a Dump answer with `routes` installed."""
    data = struct.pack('!H', 1) + struct.pack('!I', 1) + b'lo\0'
    data += struct.pack('!H', 1) + NEIGHBOUR.pack(
        NEIGHBOUR_ADDRESS, 1, 0xffff, 96, 96, 0, 0, 0, 1, 256)
    data += struct.pack('!H', 0)  # exported routes
    data += struct.pack('!H', len(routes))
    for prefix, length in routes:
        data += ROUTE.pack(ipaddress.IPv6Address(prefix).packed, length, 256,
                           256, 0, bytes(8), 1, 0, 1, NEIGHBOUR_ADDRESS,
                           NEIGHBOUR_ADDRESS, 1)
    return data


def receive(connection, size):
    data = b''
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Babeld:
    """The control socket at `path`, served in threads; `dumps` counts the
    Dump requests answered."""

    def __init__(self, path, routes=()):
        self.routes = list(routes)
        self.dumps = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(connection,),
                             daemon=True).start()

    def serve(self, connection):
        try:
            receive(connection, 1)
            while True:
                kind, size = HEADER.unpack(receive(connection, HEADER.size))
                receive(connection, size)
                if kind == 1:
                    self.dumps += 1
                    payload = dump(self.routes)
                else:  # SetCostMultiplier: its flags
                    payload = b'\0'
                connection.sendall(HEADER.pack(kind, len(payload)) + payload)
        except (EOFError, OSError):
            pass  # the client left

    def close(self):
        self.server.close()


def main(argv):
    """babeld's command line, as re6stnet gives it: -X SOCKET, -I PIDFILE
    matter here."""
    options = dict(zip(argv, argv[1:]))
    pidfile = options.get('-I')
    if pidfile:
        with open(pidfile, 'w') as f:
            f.write('%s\n' % os.getpid())
    path = options.get('-X')
    if path:
        if os.path.exists(path):
            os.unlink(path)
        Babeld(path)

    def stop(*args):
        for leftover in path, pidfile:
            if leftover and os.path.exists(leftover):
                os.unlink(leftover)
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == '__main__':
    main(sys.argv[1:])
