#!/usr/bin/env python3
"""Timestamp servers written the common Python ways, for the benchmark to measure ours against.

Usage: python_servers.py MODE [PORT [HOST]]

  asyncio      asyncio streams, a task per connection, a reply to each read of up to 1024 bytes
  threading    socketserver.ThreadingTCPServer, a thread per connection, the same replies
  threading-ss socketserver.ThreadingTCPServer, one line per connection (the book's tsTservSS,
               threaded)

Prints "listening on PORT" once bound (PORT 0 picks a free one). Payloads are bytes, never
decoded, so any load generator's payload comes back as it went.
"""
import asyncio
import socketserver
import sys
import time

BUFSIZ = 1024


def stamped(data):
    return b"[%s] %s" % (time.ctime().encode(), data)


def announce(port):
    print("listening on", port, flush=True)


async def asyncio_server(port, host):
    async def handle(reader, writer):
        try:
            while data := await reader.read(BUFSIZ):
                writer.write(stamped(data))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    announce(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


class Replies(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(BUFSIZ):
            self.request.sendall(stamped(data))


class Lines(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(stamped(self.rfile.readline()))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    if mode == "asyncio":
        asyncio.run(asyncio_server(port, host))
        return
    handlers = {"threading": Replies, "threading-ss": Lines}
    if mode not in handlers:
        sys.exit("unknown mode %s: asyncio, threading or threading-ss" % mode)
    with Server((host, port), handlers[mode]) as server:
        announce(server.server_address[1])
        server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
