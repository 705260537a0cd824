#!/usr/bin/env -S deno run -N --unstable-net --no-prompt
/**
 * SocketServer UDP timestamp server: `tsUserv.ts` written the `socketserver` way. Not one of the
 * book's listings: the book's table names `UDPServer` and `DatagramRequestHandler`, but shows
 * only the TCP pair, so this is what its UDP listing would be. The bytes on the wire are
 * `tsUserv`'s: each datagram comes back to its sender as `[` + the time as `time.ctime()` writes
 * it + `] ` + the datagram, so `tsUclnt.ts` and the book's `tsUclnt.py` talk to it unchanged.
 *
 * The work is split as in `tsTservSS.ts`: `DatagramServer` (in `lib/datagram_server.ts`, Python's
 * `UDPServer`, and `UnixDatagramServer` for `--unix`) binds and receives, and a request handler
 * class says what to do with one datagram, in `handle()`. Datagrams are served at once, as
 * Python's `ThreadingUDPServer` would; Ctrl-C or SIGTERM stops it after the replies in flight.
 *
 * ```sh
 * deno run -N --unstable-net --no-prompt scripts/tsUservSS.ts
 * deno run -N --unstable-net scripts/tsUclnt.ts                # in another terminal
 * ```
 *
 * @module
 */

import { fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { formatAddress, waitingLine } from "../lib/net.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { DatagramRequestHandler, DatagramServer } from "../lib/datagram_server.ts";
import { STAMP_LENGTH, stampReply } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;
const MAX_DATAGRAM = 65_507; // the most a UDP datagram over IPv4 can carry

/** Serves one datagram: sends it back to its sender, stamped. */
class MyRequestHandler extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.write(stampReply(this.packet)); // '[%s] %s' % (ctime(), data)
    this.server.log?.(`...received from and returned to: ${formatAddress(this.clientAddress)}`);
  }
}

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsUservSS.ts",
  about: "SocketServer UDP timestamp server (UDPServer + DatagramRequestHandler)",
  run: "-N --unstable-net --no-prompt",
  flags: {
    host: flag.host(HOST, "address to listen on"),
    port: flag.port(PORT, "port to listen on, 0 for any free one", 0),
    bufsiz: flag.whole("bufsiz", BUFSIZ, "most bytes of a datagram answered; the rest is cut", {
      max: MAX_DATAGRAM - STAMP_LENGTH, // so that a reply fits in one datagram
    }),
    quiet: flag.quiet(),
    trace: extraFlags.trace, // --trace: each socket call, as it happens (an extra)
    ...extraFlags.unixServer, // --unix, --unix-mode: a Unix datagram socket (an extra) instead
  },
} satisfies Command;

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls();
  }

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = trapStopSignals();
  const server = await DatagramServer.listen({
    // socket() + bind(): a Unix datagram socket for --unix, else UDP on --host and --port.
    address: options.unix === undefined
      ? { hostname: options.host, port: options.port }
      : { path: options.unix, mode: options.unixMode },
    bufsiz: options.bufsiz,
    quiet: options.quiet,
  }, MyRequestHandler);
  console.log(waitingLine(server.address));
  await server.serveForever(stop.signal); // until the stop

  // Stopping: let the replies in flight go out, then close the socket.
  await server.shutdown();
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
