#!/usr/bin/env -S deno run -N --no-prompt
/**
 * TCP timestamp server, after the book's `tsTserv.py` (Core Python Applications Programming,
 * chapter 2). For every read of up to `--bufsiz` (1024) bytes it replies `[` + the time as
 * `time.ctime()` writes it + `] ` + exactly the bytes it read.
 *
 * What differs from the book, and why:
 * - Many clients are served at once. The book's loop serves one client at a time, so a second
 *   client waits until the first has left; here each connection gets its own task.
 * - The payload is never decoded, so any bytes come back unchanged. (The book's Python 3 server
 *   crashes on invalid UTF-8.)
 * - Ctrl-C or SIGTERM stops it cleanly: no new connections, replies in flight finish, every
 *   connection closes, exit 0. A second Ctrl-C exits at once.
 * - One client cannot hurt the others: a client that sends without reading its replies is
 *   slowed down by TCP itself (each reply is awaited before the next read), so the server's
 *   memory stays flat; a connection on which nothing moves for `--idle-timeout` seconds (300)
 *   is closed.
 *
 * Run it, then a client such as `tsTclnt.ts` in another terminal:
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTserv.ts            # port 21567, all IPv4 interfaces
 * deno run -N --no-prompt scripts/tsTserv.ts --port 0   # any free port; the log says which
 * ```
 *
 * @module
 */

import { acceptor, Connections, isPeerGone, MAX_CONNS, type Session } from "../lib/connections.ts";
import { attempt, fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraAsked, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { formatPeer, waitingLine } from "../lib/net.ts";
import { trapStopSignals, whenStopped } from "../lib/shutdown.ts";
import { ReplyBuffer } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;
const IDLE_TIMEOUT = 300; // seconds

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsTserv.ts",
  about: "TCP timestamp server (the book's tsTserv.py)",
  run: "-N --no-prompt", // a server must never stop to ask a terminal for leave
  flags: {
    host: flag.host(HOST, "address to listen on"),
    port: flag.port(PORT, "port to listen on, 0 for any free one", 0),
    bufsiz: flag.whole("bufsiz", BUFSIZ, "most bytes read, and answered, at a time", {
      max: 1 << 20,
    }),
    idleTimeout: flag.seconds("idle-timeout", IDLE_TIMEOUT, "close a connection idle this long", {
      zero: "never",
    }),
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
export async function main(args: string[], command = COMMAND): Promise<number> {
  const options = parseFlags(args, command);
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
  if (workers && !worker) return await workers.runWorkers(options, command);
  // With --quiet, `log?.(…)` does nothing, and does not even build its line.
  const log = options.quiet ? undefined : (line: string) => out.log(line);

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = worker?.stopTrap() ?? trapStopSignals();

  // socket() + bind() + listen(), over TCP. TLS, a Unix socket and a worker's shared port are
  // extras (server/transport.ts), loaded only when a flag asks for one.
  const asked = extraAsked(command, options);
  const extra = asked
    ? await (await loadExtra(asked, () => import("../server/transport.ts")))
      .listenFor(options, command, worker, (line) => out.error(line))
    : undefined;
  const address = { hostname: options.host, port: options.port };
  const listener = extra?.listener ?? attempt("listen on", address, () => Deno.listen(address));
  whenStopped(stop.signal, () => listener.close()); // a stop ends the accept loop below
  out.log(waitingLine(listener.addr, extra?.tls));
  worker?.up();

  const connections = new Connections({
    idleTimeoutMs: options.idleTimeout * 1000,
    handshake: extra?.handshake(log),
    maxConns: options.maxConns,
    log,
    warn: (line) => out.error(line),
  });
  const serve = (client: Session) => serveClient(client, options.bufsiz, log);
  // accept() gives the next client, or null once a stop has closed the listener; it skips one
  // that left before we got it, and waits while we are out of descriptors (lib/connections.ts).
  const accept = acceptor<Session["conn"]>(listener, (line) => out.error(line));

  // The server's endless loop: accept() a client, and serve it without waiting for it to leave.
  let conn;
  while ((conn = await accept()) !== null) {
    // Beyond --max-conns, serve() closes it at once instead, and says so.
    if (!connections.serve(conn, serve)) continue;
    log?.(`...connected from: ${formatPeer(conn)}`); // behind a balancer: "… via" it
  }

  // Stopping: end every connection once its reply in flight is out, then close what is left.
  await connections.shutdown();
  out.log(`server stopped (${stop.signal.reason})`);
  return 0;
}
/**
 * The communication loop for one client: recv() up to `bufsiz` bytes, send() them stamped.
 * `connections.serve()` closes the connection afterwards.
 */
async function serveClient(client: Session, bufsiz: number, log?: (line: string) => void) {
  // Each reply goes out in one write, so Nagle's algorithm has nothing to gain by holding one
  // back; it would only make a message longer than `bufsiz` wait for the client's delayed ACK
  // between its stamped parts (40 ms each). setsockopt(TCP_NODELAY) turns it off.
  client.conn.setNoDelay?.(true); // (a Unix socket has no Nagle to turn off)
  // One buffer for the connection: the bytes are read in just after room for the stamp, so
  // each reply is the stamp written in front of them, with nothing made or copied per reply.
  const reply = new ReplyBuffer(bufsiz);
  try {
    // read() is null at end of input (the client is done), or once the server ends the
    // connection (a stop, an idle client); a reply being written is always finished first.
    let n: number | null;
    while ((n = await client.read(reply.data)) !== null) {
      await client.write(reply.stamped(n)); // '[%s] %s' % (ctime(), data)
    }
  } catch (err) {
    if (!isPeerGone(err)) throw err;
    // We cut it off (a stop, while a reply would not go out), or it went away (a reset, say).
    const why = client.endedFor
      ? `cut off: ${client.endedFor}`
      : `went away: ${(err as Error).message}`;
    log?.(`...${client.address} ${why}`);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
