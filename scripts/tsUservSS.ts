#!/usr/bin/env -S deno run -N --unstable-net --no-prompt
/**
 * SocketServer UDP timestamp server: `tsUserv.ts` written the `socketserver` way. Not one of the
 * book's listings: the book's table names `UDPServer` and `DatagramRequestHandler`, but shows
 * only the TCP pair, so this is what its UDP listing would be. The bytes on the wire are
 * `tsUserv`'s: each datagram comes back to its sender as `[` + the time as `time.ctime()` writes
 * it + `] ` + the datagram, so `tsUclnt.ts` and the book's `tsUclnt.py` talk to it unchanged.
 *
 * The work is split as in `tsTservSS.ts`: `DatagramServer` (in `server/datagram_server.ts`,
 * Python's `UDPServer`) binds, receives and sends, and a request handler class says what to do
 * with one datagram, in `handle()`. Datagrams are served at once, as Python's
 * `ThreadingUDPServer` would; Ctrl-C or SIGTERM stops it after the replies in flight.
 *
 * This is a lesson: for a Unix datagram socket, run `server/tsd.ts --proto udp --unix PATH`.
 *
 * ```sh
 * deno run -N --unstable-net --no-prompt scripts/tsUservSS.ts
 * deno run -N --unstable-net scripts/tsUclnt.ts                # in another terminal
 * ```
 *
 * @module
 */

import { commandLine, fatal } from "../lib/cli.ts";
import { formatAddress, type Lesson } from "../lib/command.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { stampReply } from "../lib/timestamp.ts";
import { DatagramRequestHandler, DatagramServer } from "../server/datagram_server.ts";

const HOST = "0.0.0.0"; // '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024; // the most bytes of a datagram answered; the rest is cut

/** Serves one datagram: sends it back to its sender, stamped. */
class MyRequestHandler extends DatagramRequestHandler {
  override async handle(): Promise<void> {
    await this.write(stampReply(this.packet)); // '[%s] %s' % (ctime(), data)
    console.log(`...received from and returned to: ${formatAddress(this.clientAddress)}`);
  }
}

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsUservSS.ts",
  about: "SocketServer UDP timestamp server (UDPServer + DatagramRequestHandler)",
  run: "-N --unstable-net --no-prompt",
  serves: true,
  host: HOST,
  port: PORT,
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;
  using stop = trapStopSignals(); // stop.signal aborts at Ctrl-C or SIGTERM

  // UDPServer(ADDR, MyRequestHandler): socket() + bind(), and a handler per datagram.
  const address = { hostname: options.host, port: options.port };
  const server = await DatagramServer.listen({ address, bufsiz: BUFSIZ }, MyRequestHandler);
  console.log(`waiting for message on ${formatAddress(server.address)}...`);
  await server.serveForever(stop.signal); // recvfrom() each datagram, until the stop

  // Stopping: let the replies in flight go out, then close the socket.
  await server.shutdown();
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
