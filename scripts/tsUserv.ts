#!/usr/bin/env -S deno run -N --unstable-net
/**
 * UDP timestamp server, after the book's `tsUserv.py`. Replies to each datagram, to its sender,
 * with `[` + the time as `time.ctime()` writes it + `] ` + the datagram's bytes.
 *
 * UDP has no connections, so there is no accept() and nothing to close per client: one socket
 * receives from everyone (recvfrom) and answers each sender (sendto). That also means it serves
 * many clients at once by nature. Like `recvfrom(1024)` in the book, a datagram longer than
 * `--bufsiz` is cut to `--bufsiz` bytes; an empty datagram gets a bare stamp. A reply that
 * cannot be delivered (its sender has gone) is dropped, and the server goes on. Ctrl-C or
 * SIGTERM stops it after the reply in flight, exit 0.
 *
 * Deno's UDP API is still unstable, hence `--unstable-net`:
 *
 * ```sh
 * deno run -N --unstable-net scripts/tsUserv.ts
 * deno run -N --unstable-net scripts/tsUclnt.ts    # in another terminal
 * ```
 *
 * @module
 */

import { fatal } from "../lib/errors.ts";
import { type Cli, parseFlags } from "../lib/flags.ts";
import { formatAddress, listenUdp } from "../lib/net.ts";
import { trapStopSignals, whenStopped } from "../lib/shutdown.ts";
import { ReplyBuffer } from "../lib/timestamp.ts";

/** This script's command line. */
export const CLI: Cli = {
  script: "tsUserv.ts",
  about: "UDP timestamp server (the book's tsUserv.py)",
  role: "udp-server",
  host: "0.0.0.0",
  unstableNet: true,
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[], cli: Cli = CLI): Promise<number> {
  const options = parseFlags(args, cli);
  if (!options) return 0;
  // With --quiet, `log?.(…)` does nothing, and does not even build its line.
  const log = options.quiet ? undefined : console.log;

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = trapStopSignals();

  // socket() + bind()
  const socket = listenUdp(options.host, options.port);
  console.log(`waiting for message on ${formatAddress(socket.addr)}...`);

  // A stop closes the socket, which ends a receive() that is waiting; a reply being sent is
  // let finish first. (Closing is cheaper than racing every receive() against the stop.)
  let replying = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    socket.close(); // DatagramConn has no Symbol.dispose for `using`
  };
  whenStopped(stop.signal, () => {
    if (!replying) close();
  });

  // The server's endless loop: recvfrom() a datagram, sendto() its sender the stamped reply.
  // Room for `bufsiz` bytes, with room for the stamp in front: each reply is built in place.
  const buffer = new ReplyBuffer(options.bufsiz);
  try {
    while (!stop.signal.aborted) {
      let data: Uint8Array;
      let client: Deno.Addr;
      try {
        [data, client] = await socket.receive(buffer.payloadSpace);
      } catch (err) {
        if (stop.signal.aborted) break; // the socket was closed: we are stopping
        // Some systems report an earlier reply's failure (ICMP "port unreachable": its sender
        // had gone) on the next receive; that concerns one sender, not the server.
        const unreachable = err instanceof Deno.errors.ConnectionReset ||
          err instanceof Deno.errors.ConnectionRefused;
        if (!unreachable) throw err;
        console.error(`...an earlier reply could not be delivered: ${(err as Error).message}`);
        continue;
      }
      if (closed) break; // the stop closed the socket just as this came: it goes unanswered
      replying = true;
      try {
        await socket.send(buffer.reply(data.length), client);
        log?.(`...received from and returned to: ${formatAddress(client)}`);
      } catch (err) {
        // One sender we cannot answer (gone, unreachable) is no reason to stop answering others.
        console.error(`...cannot reply to ${formatAddress(client)}: ${(err as Error).message}`);
      } finally {
        replying = false;
      }
    }
  } finally {
    close();
  }
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
