#!/usr/bin/env -S deno run -N --no-prompt
/**
 * SocketServer timestamp server, after the book's `tsTservSS.py`. For each connection it reads
 * one line, replies `[` + the time as `time.ctime()` writes it + `] ` + the line *with* its line
 * ending, and closes the connection. So a client makes a new connection for every line (see
 * `tsTclntSS.ts`).
 *
 * As in the book, the server's work is split in two: `StreamServer` (in `lib/socket_server.ts`,
 * Python's `TCPServer`, and `UnixStreamServer` for `--unix`) binds, listens and accepts, and a
 * request handler class says what to do with one connection, in `handle()`. Unlike the book's
 * `TCPServer`, it serves many connections at once, as Python's `ThreadingTCPServer` would;
 * Ctrl-C or SIGTERM stops it cleanly, exit 0.
 *
 * A client cannot make it hold on for ever: a line longer than `--max-line` bytes (64 KiB)
 * closes the connection; so does a line not whole `--line-timeout` seconds (30) after it began,
 * or a connection idle for `--idle-timeout` seconds (300). All unfinished lines together may
 * hold `--line-budget` MiB (64); beyond, the connection holding the most is closed, so memory
 * stays bounded whatever many clients send. Each of these is logged. Beyond `--max-conns`
 * clients at once (10,000), a new connection is closed as soon as it is accepted.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservSS.ts
 * deno run -N scripts/tsTclntSS.ts               # in another terminal
 * ```
 *
 * @module
 */

import { MAX_CONNS } from "../lib/connections.ts";
import { fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraAsked, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { formatPeer, waitingLine } from "../lib/net.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import type { StreamAddress } from "../lib/addresses.ts";
import { StreamRequestHandler, StreamServer } from "../lib/socket_server.ts";
import { stampReply } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;
const MAX_LINE = 64 * 1024; // bytes, its newline included
const LINE_TIMEOUT = 30; // seconds, from a line's first byte to its newline
const IDLE_TIMEOUT = 300; // seconds
const LINE_BUDGET = 64; // MiB, for all connections' unfinished lines together

/** Serves one connection: reads a line, sends it back stamped. The server then closes it. */
class MyRequestHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    this.server.log?.(`...connected from: ${formatPeer(this.request)}`);
    const line = await this.rfile.readline();
    await this.write(stampReply(line)); // '[%s] %s' % (ctime(), line)
  }
}

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsTservSS.ts",
  about: "SocketServer timestamp server: one line per connection (the book's tsTservSS.py)",
  run: "-N --no-prompt", // a server must never stop to ask a terminal for leave
  flags: {
    host: flag.host(HOST, "address to listen on"),
    port: flag.port(PORT, "port to listen on, 0 for any free one", 0),
    bufsiz: flag.whole("bufsiz", BUFSIZ, "most bytes read at a time; the reply is the whole line", {
      max: 1 << 20,
    }),
    idleTimeout: flag.seconds("idle-timeout", IDLE_TIMEOUT, "close a connection idle this long", {
      zero: "never",
    }),
    maxLine: flag.whole("max-line", MAX_LINE, "close a connection whose line is longer", {
      max: 16 << 20,
    }),
    lineTimeout: flag.seconds(
      "line-timeout",
      LINE_TIMEOUT,
      "close a connection whose line takes longer",
      { zero: "never" },
    ),
    lineBudget: flag.whole(
      "line-budget",
      LINE_BUDGET,
      "most MiB all unfinished lines may hold; beyond, close the connection holding the most",
      { max: 65536, value: "MIB" },
    ),
    maxConns: flag.whole("max-conns", MAX_CONNS, "most clients at once; beyond, close new ones", {
      max: 1_000_000,
      value: "N",
    }),
    quiet: flag.quiet(),
    // The extras, in server/ (--trace: lib/extras/): loaded only when one of these is given.
    trace: extraFlags.trace, // --trace: each socket call, as it happens
    ...extraFlags.tlsServer, // --tls-cert, --tls-key, --handshake-timeout
    ...extraFlags.unixServer, // --unix, --unix-mode
    ...extraFlags.proxy, // --proxy-protocol, --proxy-from: behind a load balancer
    workers: extraFlags.workers, // --workers N: threads sharing the port
  },
} satisfies Command;

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;

  // --workers N: this thread only starts N servers, each in a thread of its own, on one port.
  const workers = options.workers > 1
    ? await loadExtra("--workers", () => import("../server/workers.ts"))
    : undefined;
  const worker = workers?.WORKER;
  const out = worker?.console ?? console; // a worker's lines say which worker it is
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls(out);
  }
  if (workers && !worker) return await workers.runWorkers(options, COMMAND);

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = worker?.stopTrap() ?? trapStopSignals();
  // TCP on --host and --port; TLS, a Unix socket and a worker's shared port are extras.
  const asked = extraAsked(COMMAND, options);
  const address: StreamAddress = asked
    ? (await loadExtra(asked, () => import("../server/transport.ts")))
      .serverAddress(options, COMMAND, worker)
    : { hostname: options.host, port: options.port };
  // socket() + bind() + listen(), then a handler for each connection: Python's TCPServer.
  const server = await StreamServer.listen({
    address,
    bufsiz: options.bufsiz,
    maxLine: options.maxLine,
    lineTimeoutMs: options.lineTimeout * 1000,
    idleTimeoutMs: options.idleTimeout * 1000,
    maxConns: options.maxConns,
    lineBudget: options.lineBudget * (1 << 20),
    quiet: options.quiet,
    console: out,
  }, MyRequestHandler);
  out.log(waitingLine(server.address, "tls" in address && address.tls !== undefined));
  worker?.up();
  await server.serveForever(stop.signal); // until the stop closes the listener

  // Stopping: end every connection once its reply in flight is out, then close what is left.
  await server.shutdown();
  out.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
