#!/usr/bin/env -S deno run -N
/**
 * SocketServer timestamp server, after the book's `tsTservSS.py`. For each connection it reads
 * one line, replies `[` + the time as `time.ctime()` writes it + `] ` + the line *with* its line
 * ending, and closes the connection. So a client makes a new connection for every line (see
 * `tsTclntSS.ts`).
 *
 * As in the book, the server's work is split in two: `TcpServer` (in `lib/socket_server.ts`)
 * binds, listens and accepts, and a request handler class says what to do with one connection,
 * in `handle()`. Unlike the book's `TCPServer`, it serves many connections at once, as Python's
 * `ThreadingTCPServer` would; Ctrl-C or SIGTERM stops it cleanly, exit 0.
 *
 * A client cannot make it hold on for ever: a line longer than `--max-line` bytes (64 KiB)
 * closes the connection, so memory stays bounded whatever a client sends; so does a line not
 * whole `--line-timeout` seconds (30) after it began, or a connection idle for
 * `--idle-timeout` seconds (300). Each of these is logged.
 *
 * ```sh
 * deno run -N scripts/tsTservSS.ts
 * deno run -N scripts/tsTclntSS.ts          # in another terminal
 * ```
 *
 * @module
 */

import { fatal } from "../lib/errors.ts";
import { type Cli, parseFlags } from "../lib/flags.ts";
import { formatAddress } from "../lib/net.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { StreamRequestHandler, TcpServer } from "../lib/socket_server.ts";
import { stampReply } from "../lib/timestamp.ts";

/** This script's command line. */
export const CLI: Cli = {
  script: "tsTservSS.ts",
  about: "SocketServer timestamp server: one line per connection (the book's tsTservSS.py)",
  role: "line-server",
  host: "0.0.0.0",
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[], cli: Cli = CLI): Promise<number> {
  const options = parseFlags(args, cli);
  if (!options) return 0;
  // With --quiet, `log?.(…)` does nothing, and does not even build its line.
  const log = options.quiet ? undefined : console.log;

  /** Serves one connection: read a line, send it back stamped. The server then closes it. */
  class TimestampHandler extends StreamRequestHandler {
    override async handle(): Promise<void> {
      log?.(`...connected from: ${formatAddress(this.clientAddress)}`);
      const line = await this.rfile.readline();
      await this.write(stampReply(line));
    }
  }

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = trapStopSignals();
  const server = new TcpServer({
    hostname: options.host,
    port: options.port,
    bufsiz: options.bufsiz,
    maxLine: options.maxLine,
    lineTimeoutMs: options.lineTimeout * 1000,
    idleTimeoutMs: options.idleTimeout * 1000,
    quiet: options.quiet,
  }, TimestampHandler);
  console.log(`waiting for connection on ${formatAddress(server.address)}...`);
  await server.serveForever(stop.signal);
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
