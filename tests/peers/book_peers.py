#!/usr/bin/env python3
"""Python peers that behave on the wire as the book's chapter 2 listings do, for interop tests.

Usage: book_peers.py MODE [PORT [HOST]]

Servers (tcp-server, tcp6-server, udp-server, ss-server) bind PORT (0: any free port) and print
"listening on PORT" once bound, so that a test can find them. Clients (tcp-client, udp-client,
ss-client) read lines with input(), as the book's do, and go to HOST (default 127.0.0.1).

Like the book's Python 3 listings, these decode and encode UTF-8, serve one client at a time,
and read at most 1024 bytes at once: they are the reference, not a model.
"""
import socket
import socketserver
import sys
import time

BUFSIZ = 1024


def stamped(data):
    return ("[%s] %s" % (time.ctime(), data.decode("utf-8"))).encode("utf-8")


def announce(sock):
    print("listening on", sock.getsockname()[1], flush=True)


def tcp_server(port, family):
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("", port))
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


def udp_server(port):
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("", port))
    announce(server)
    while True:
        data, addr = server.recvfrom(BUFSIZ)
        server.sendto(stamped(data), addr)


def ss_server(port):
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            self.wfile.write(stamped(self.rfile.readline()))

    socketserver.TCPServer.allow_reuse_address = True
    server = socketserver.TCPServer(("", port), Handler)
    announce(server.socket)
    server.serve_forever()


def next_line():
    try:
        return input("> ")
    except EOFError:
        return ""


def tcp_client(port, host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect((host, port))
        while True:
            line = next_line()
            if not line:
                break
            sock.send(line.encode("utf-8"))
            reply = sock.recv(BUFSIZ)
            if not reply:
                break
            print(reply.decode("utf-8"))


def udp_client(port, host):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        while True:
            line = next_line()
            if not line:
                break
            sock.sendto(line.encode("utf-8"), (host, port))
            reply, _ = sock.recvfrom(BUFSIZ)
            print(reply.decode("utf-8"))


def ss_client(port, host):
    while True:
        # Like the book's client: connect first, then ask for the line; at the end of input the
        # last connection closes without sending anything.
        with socket.create_connection((host, port)) as sock:
            line = next_line()
            if not line:
                break
            sock.send(("%s\r\n" % line).encode("utf-8"))
            print(sock.recv(BUFSIZ).decode("utf-8").strip())


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    servers = {
        "tcp-server": lambda: tcp_server(port, socket.AF_INET),
        "tcp6-server": lambda: tcp_server(port, socket.AF_INET6),
        "udp-server": lambda: udp_server(port),
        "ss-server": lambda: ss_server(port),
        "tcp-client": lambda: tcp_client(port, host),
        "udp-client": lambda: udp_client(port, host),
        "ss-client": lambda: ss_client(port, host),
    }
    try:
        servers[mode]()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
