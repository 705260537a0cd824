#!/usr/bin/env python3
"""Python peers that behave on the wire as the book's chapter 2 listings do, for interop tests.

Usage: book_peers.py MODE [PORT [HOST]]
       book_peers.py MODE /PATH

Servers (tcp-server, tcp6-server, udp-server, ss-server) bind PORT (0: any free port) and print
"listening on PORT" once bound, so that a test can find them. Clients (tcp-client, udp-client,
ss-client) read lines with input(), as the book's do, and go to HOST (default 127.0.0.1).
Given a /PATH instead of a port, the same peers speak over AF_UNIX at that path (ss-server as
socketserver.UnixStreamServer), and the datagram client binds a path of its own under the
temporary folder, since without one no reply could reach it.

Like the book's Python 3 listings, these decode and encode UTF-8, serve one client at a time,
and read at most 1024 bytes at once: they are the reference, not a model.
"""
import socket
import os
import socketserver
import sys
import tempfile
import time

BUFSIZ = 1024


def stamped(data):
    return ("[%s] %s" % (time.ctime(), data.decode("utf-8"))).encode("utf-8")


def announce(sock):
    name = sock.getsockname()
    print("listening on", name if isinstance(name, str) else name[1], flush=True)


def bind_address(port):
    """What a server binds: ("", port), or a path for AF_UNIX."""
    return port if isinstance(port, str) else ("", port)


def tcp_server(port, family):
    server = socket.socket(family, socket.SOCK_STREAM)
    if family != socket.AF_UNIX:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(bind_address(port))
    server.listen(5)
    announce(server)
    while True:
        client, addr = server.accept()
        print("...connected from:", addr, flush=True)
        with client:
            while True:
                data = client.recv(BUFSIZ)
                if not data:
                    break
                client.send(stamped(data))


def udp_server(port, family):
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.bind(bind_address(port))
    announce(server)
    while True:
        data, addr = server.recvfrom(BUFSIZ)
        server.sendto(stamped(data), addr)


def ss_server(port, family):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(stamped(self.rfile.readline()))

    socketserver.TCPServer.allow_reuse_address = True
    unix = family == socket.AF_UNIX
    server = (socketserver.UnixStreamServer if unix else socketserver.TCPServer)(
        bind_address(port), Handler
    )
    announce(server.socket)
    server.serve_forever()


def next_line():
    try:
        return input("> ")
    except EOFError:
        return ""


def server_address(port, host):
    """Where a client goes: (host, port), or a path for AF_UNIX."""
    return port if isinstance(port, str) else (host, port)


def tcp_client(port, host, family):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect(server_address(port, host))
        while True:
            line = next_line()
            if not line:
                break
            sock.send(line.encode("utf-8"))
            reply = sock.recv(BUFSIZ)
            if not reply:
                break
            print(reply.decode("utf-8"))


def udp_client(port, host, family):
    with socket.socket(family, socket.SOCK_DGRAM) as sock, tempfile.TemporaryDirectory() as own:
        if family == socket.AF_UNIX:
            sock.bind(os.path.join(own, "client.sock"))
        sock.settimeout(5)
        while True:
            line = next_line()
            if not line:
                break
            sock.sendto(line.encode("utf-8"), server_address(port, host))
            reply, _ = sock.recvfrom(BUFSIZ)
            print(reply.decode("utf-8"))


def ss_client(port, host, family):
    while True:
        # Like the book's client: connect first, then ask for the line; at the end of input the
        # last connection closes without sending anything.
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.connect(server_address(port, host))
            line = next_line()
            if not line:
                break
            sock.send(("%s\r\n" % line).encode("utf-8"))
            print(sock.recv(BUFSIZ).decode("utf-8").strip())


def main():
    mode = sys.argv[1]
    where = sys.argv[2] if len(sys.argv) > 2 else "0"
    port = where if where.startswith("/") else int(where)
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    family = (
        socket.AF_UNIX if isinstance(port, str) else socket.AF_INET6 if ":" in host
        else socket.AF_INET
    )
    servers = {
        "tcp-server": lambda: tcp_server(port, family),
        "tcp6-server": lambda: tcp_server(port, socket.AF_INET6),
        "udp-server": lambda: udp_server(port, family),
        "ss-server": lambda: ss_server(port, family),
        "tcp-client": lambda: tcp_client(port, host, family),
        "udp-client": lambda: udp_client(port, host, family),
        "ss-client": lambda: ss_client(port, host, family),
    }
    try:
        servers[mode]()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
