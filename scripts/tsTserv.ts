#!/usr/bin/env -S deno run -N --no-prompt
/**
 * TCP timestamp server, after the book's `tsTserv.py` (Core Python Applications Programming,
 * chapter 2). For every read of up to `BUFSIZ` (1024) bytes it replies `[` + the time as
 * `time.ctime()` writes it + `] ` + exactly the bytes it read.
 *
 * What differs from the book, and why:
 * - Many clients are served at once: each connection gets its own task. (The book's loop serves
 *   one at a time; a second client waits until the first has left.)
 * - The bytes are never decoded, so any bytes come back unchanged. (The book's Python 3 server
 *   crashes on invalid UTF-8.)
 * - Ctrl-C or SIGTERM stops it cleanly: no new clients, replies being written go out (a second
 *   at most), exit 0. A second Ctrl-C exits at once. A client that resets, or running out of
 *   descriptors, is said in a line, and the server goes on.
 *
 * This is a lesson: it leaves out what only a deployment needs (TLS, Unix sockets, workers, a
 * balancer's PROXY header, idle timeouts, a cap on clients). For those, run the production
 * server, `server/tsd.ts --proto tcp`, which speaks the same protocol.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTserv.ts            # port 21567, all IPv4 interfaces
 * deno run -N --no-prompt scripts/tsTserv.ts --port 0   # any free port; the log says which
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import { formatAddress, type Lesson } from "../lib/command.ts";
import {
  acceptAgain,
  SHUTDOWN_DEADLINE_MS,
  trapStopSignals,
  unlessStopped,
  within,
} from "../lib/shutdown.ts";
import { stampReply } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTserv.ts",
  about: "TCP timestamp server (the book's tsTserv.py)",
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

  // socket() + bind() + listen(), all in one: a TCP socket listening on HOST and PORT.
  const address = { hostname: options.host, port: options.port };
  const listener = attempt("listen on", address, () => Deno.listen(address));
  console.log(`waiting for connection on ${formatAddress(listener.addr)}...`);
  await serveForever(listener, stop.signal);
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

/**
 * The server's endless loop: accept() a client, and serve it without waiting for it to leave;
 * until `stopping` aborts, then each reply being written goes out, a second at most.
 */
export async function serveForever(listener: Deno.TcpListener, stopping: AbortSignal) {
  stopping.addEventListener("abort", () => listener.close()); // ends the accept() below
  const clients = new Set<Promise<void>>();
  while (true) {
    let conn: Deno.TcpConn;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (stopping.aborted) break; // the stop closed the listener
      await acceptAgain(err); // a client gone before we took it, or out of descriptors
      continue;
    }
    console.log(`...connected from: ${formatAddress(conn.remoteAddr)}`);
    const serving = serveClient(conn, stopping).finally(() => clients.delete(serving));
    clients.add(serving);
  }
  // Stopping: exiting closes whatever is still open once the deadline is up.
  await within(Promise.all(clients), SHUTDOWN_DEADLINE_MS);
}

/** The communication loop for one client: recv() up to BUFSIZ bytes, send() them stamped. */
async function serveClient(conn: Deno.Conn, stopping: AbortSignal): Promise<void> {
  const data = new Uint8Array(BUFSIZ);
  try {
    // read() is null at the end of input (the client is done); a stop ends the wait too.
    let n: number | null;
    while ((n = await unlessStopped(conn.read(data), stopping)) !== null) {
      const reply = stampReply(data.subarray(0, n)); // '[%s] %s' % (ctime(), data)
      // write() may take only part of it, as send() may; this loop is Python's sendall().
      for (let sent = 0; sent < reply.length;) sent += await conn.write(reply.subarray(sent));
    }
  } catch (err) {
    // A client that resets, or leaves mid-reply: said, and the others go on.
    console.log(`...${formatAddress(conn.remoteAddr)} went away: ${(err as Error).message}`);
  } finally {
    conn.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
