#!/usr/bin/env -S deno run -N --no-prompt
/**
 * SocketServer timestamp server, after the book's `tsTservSS.py`. For each connection it reads
 * one line, replies `[` + the time as `time.ctime()` writes it + `] ` + the line *with* its line
 * ending, and closes the connection. So a client makes a new connection for every line (see
 * `tsTclntSS.ts`).
 *
 * As in the book, the socket calls are a library's, and the script says only what to do with
 * one connection: `StreamServer` (in `server/socket_server.ts`, Python's `TCPServer`) binds,
 * listens, accepts and closes, and a request handler class writes `handle()`. Unlike the book's
 * `TCPServer`, it serves many connections at once, as Python's `ThreadingTCPServer` would, and
 * a line is at most 64 KiB; Ctrl-C or SIGTERM stops it cleanly, exit 0.
 *
 * This is a lesson: for TLS, Unix sockets, workers, a balancer's PROXY header and limits of
 * your own, run `server/tsd.ts --proto ss`.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservSS.ts
 * deno run -N scripts/tsTclntSS.ts               # in another terminal
 * ```
 *
 * @module
 */

import { commandLine, fatal } from "../lib/cli.ts";
import { formatAddress, type Lesson } from "../lib/command.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { stampReply } from "../lib/timestamp.ts";
import { StreamRequestHandler, StreamServer } from "../server/socket_server.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;

/** Serves one connection: reads a line, sends it back stamped. The server then closes it. */
class MyRequestHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    console.log(`...connected from: ${formatAddress(this.clientAddress)}`);
    const line = await this.rfile.readline();
    await this.write(stampReply(line)); // '[%s] %s' % (ctime(), line)
  }
}

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTservSS.ts",
  about: "SocketServer timestamp server: one line per connection (the book's tsTservSS.py)",
  run: "-N --no-prompt", // a server must never stop to ask a terminal for leave
  serves: true,
  host: HOST,
  port: PORT,
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;
  using stop = trapStopSignals(); // stop.signal aborts at Ctrl-C or SIGTERM

  // TCPServer(ADDR, MyRequestHandler): socket() + bind() + listen(), and a handler per client.
  const address = { hostname: options.host, port: options.port };
  const server = await StreamServer.listen({ address }, MyRequestHandler);
  console.log(`waiting for connection on ${formatAddress(server.address)}...`);
  await server.serveForever(stop.signal); // accept() each client, until the stop

  // Stopping: each reply being written goes out, then every connection closes.
  await server.shutdown();
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
