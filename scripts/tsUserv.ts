#!/usr/bin/env -S deno run -N --unstable-net --no-prompt
/**
 * UDP timestamp server, after the book's `tsUserv.py`. Replies to each datagram, to its sender,
 * with `[` + the time as `time.ctime()` writes it + `] ` + the datagram's bytes.
 *
 * UDP has no connections, so there is no accept() and nothing to close per client: one socket
 * receives from everyone (recvfrom) and answers each sender (sendto). That also means it serves
 * many clients at once by nature. Like `recvfrom(1024)` in the book, a datagram longer than
 * `BUFSIZ` is cut to `BUFSIZ` bytes; an empty datagram gets a bare stamp. A reply that cannot
 * be delivered (its sender has gone) is said in a line, and the server goes on. Ctrl-C or
 * SIGTERM stops it after the reply in flight, exit 0.
 *
 * This is a lesson: for a Unix datagram socket, run `server/tsd.ts --proto udp --unix PATH`.
 *
 * Deno's UDP API is still unstable, hence `--unstable-net`; `--no-prompt` because Deno checks
 * leave for each sender it answers, and without it, at a terminal, one sender that `--allow-net`
 * does not list would stop the server at Deno's `Allow?` prompt (with it, that one is refused):
 *
 * ```sh
 * deno run -N --unstable-net --no-prompt scripts/tsUserv.ts
 * deno run -N --unstable-net scripts/tsUclnt.ts                # in another terminal
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import { formatAddress, type Lesson } from "../lib/command.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { stampReply } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsUserv.ts",
  about: "UDP timestamp server (the book's tsUserv.py)",
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

  // socket(AF_INET, SOCK_DGRAM) + bind(): a UDP socket on HOST and PORT.
  const address = { hostname: options.host, port: options.port };
  const udp = { ...address, transport: "udp" } as const;
  const socket = attempt("listen on", address, () => Deno.listenDatagram(udp));
  console.log(`waiting for message on ${formatAddress(socket.addr)}...`);
  // A stop closes the socket, which ends the receive() below, once the reply in flight is out.
  let replying: Promise<unknown> = Promise.resolve();
  stop.signal.addEventListener("abort", () => replying.finally(() => socket.close()));

  // The server's endless loop: recvfrom() a datagram, sendto() its sender the stamped reply.
  const data = new Uint8Array(BUFSIZ); // what receive() fills; the rest of a datagram is cut
  while (true) {
    let datagram: Uint8Array, client: Deno.Addr;
    try {
      [datagram, client] = await socket.receive(data);
    } catch (err) {
      if (stop.signal.aborted) break; // the stop closed the socket
      // An earlier reply's sender was unreachable, as the system may tell a UDP socket later.
      if (err instanceof Deno.errors.ConnectionRefused) continue;
      if (err instanceof Deno.errors.ConnectionReset) continue; // (so Windows says it)
      throw err;
    }
    if (stop.signal.aborted) break; // the stop came as this datagram did: it closes the socket
    const reply = stampReply(datagram); // '[%s] %s' % (ctime(), data)
    replying = socket.send(reply, client).then(
      () => console.log(`...received from and returned to: ${formatAddress(client)}`),
      // One sender we cannot answer (gone, unreachable, not allowed) stops no one else.
      (err) => console.error(`...cannot reply to ${formatAddress(client)}: ${whyNot(err)}`),
    );
    await replying;
  }
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

/** Why a reply could not go out; Deno's permission, in words a user can act on. */
const whyNot = (err: Error) =>
  err instanceof Deno.errors.NotCapable
    ? "network access to it was not granted (run with -N to answer every client)"
    : err.message;

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
