#!/usr/bin/env python3
"""Clients that misbehave, for the hardening tests: things Deno's own sockets cannot do.

Usage: rude_clients.py MODE PORT COUNT [SECONDS PERIOD]

  reset     COUNT connections that each send a line and close at once with a reset (RST):
            SO_LINGER on, with a zero timeout, makes close() abort the connection.
  leave     COUNT connections that are closed as soon as they are made, sending nothing.
  vanish    COUNT UDP sockets that each send a datagram and close before the reply comes,
            so that the reply meets a closed port (ICMP port unreachable).
  trickle   COUNT connections from 127.0.0.2 that each send one byte every PERIOD seconds
            (10) and read what comes back, for SECONDS (10): each byte is a request, so an
            idle timeout never fires. One the server closes is made again when its next byte
            is due. Prints "connected N" once all have been tried, so a test knows they are in,
            and at the end what it did.

The others print "done N" with how many they managed. Each exits 0.
"""
import collections
import selectors
import socket
import struct
import sys
import time


def trickle(port, count, seconds, period):
    sel = selectors.DefaultSelector()
    slots = collections.deque()  # [socket or None, when its next byte is due], by due time
    stats = {"connects": 0, "failed": 0, "closed": 0, "sent": 0}

    def connect(slot):
        try:
            sock = socket.create_connection(
                ("127.0.0.1", port), timeout=1, source_address=("127.0.0.2", 0)
            )
        except OSError:
            stats["failed"] += 1
            return
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, slot)
        slot[0] = sock
        stats["connects"] += 1

    def drop(slot):
        sel.unregister(slot[0])
        slot[0].close()
        slot[0] = None
        stats["closed"] += 1

    start = time.monotonic()
    for i in range(count):
        slot = [None, start + period * (i + 1) / count]  # the bytes spread over the period
        connect(slot)
        slots.append(slot)
    print("connected", stats["connects"], flush=True)
    buffer = bytearray(4096)
    while time.monotonic() - start < seconds:
        wait = max(0, min(slots[0][1], start + seconds) - time.monotonic())
        for key, _ in sel.select(wait):
            try:
                n = key.fileobj.recv_into(buffer)
            except OSError:
                n = 0
            if n == 0:
                drop(key.data)
        now = time.monotonic()
        while slots[0][1] <= now:
            slot = slots.popleft()
            slot[1] += period
            slots.append(slot)
            if slot[0] is None:
                connect(slot)
            if slot[0] is not None:
                try:
                    slot[0].send(b"x")
                    stats["sent"] += 1
                except OSError:
                    drop(slot)
    print(" ".join(f"{k} {v}" for k, v in stats.items()), flush=True)


def main():
    mode, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "trickle":
        seconds, period = (float(arg) for arg in (sys.argv[4:6] + ["10", "10"])[:2])
        return trickle(port, count, seconds, period)
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
