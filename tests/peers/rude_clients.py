#!/usr/bin/env python3
"""Clients that misbehave, for the hardening tests: things Deno's own sockets cannot do.

Usage: rude_clients.py MODE PORT COUNT

  reset     COUNT connections that each send a line and close at once with a reset (RST):
            SO_LINGER on, with a zero timeout, makes close() abort the connection.
  leave     COUNT connections that are closed as soon as they are made, sending nothing.
  vanish    COUNT UDP sockets that each send a datagram and close before the reply comes,
            so that the reply meets a closed port (ICMP port unreachable).

Prints "done N" with how many it managed, then exits 0.
"""
import socket
import struct
import sys


def main():
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    done = 0
    for i in range(count):
        if mode == "vanish":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.sendto(b"gone %d" % i, ("127.0.0.1", port))
            sock.close()
            done += 1
            continue
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue  # the server's backlog was full: that is the server's right
        if mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                sock.send(b"hello and goodbye\n")
            except OSError:
                pass
        sock.close()
        done += 1
    print("done", done, flush=True)


if __name__ == "__main__":
    main()
