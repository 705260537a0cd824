#!/usr/bin/env -S deno run -N --unstable-net --no-prompt
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
 * Deno's UDP API is still unstable, hence `--unstable-net`; `--no-prompt` because Deno checks
 * leave for each sender it answers, and without it, at a terminal, one sender that `--allow-net`
 * does not list would stop the server at Deno's `Allow?` prompt (with it, that one is refused):
 *
 * ```sh
 * deno run -N --unstable-net --no-prompt scripts/tsUserv.ts
 * deno run -N --unstable-net scripts/tsUclnt.ts                # in another terminal
 * ```
 *
 * `--unix PATH` serves a Unix datagram socket instead (AF_UNIX, SOCK_DGRAM), where each reply goes
 * to its sender's own socket file: hence leave to write where clients bind (here /tmp):
 *
 * ```sh
 * deno run -N --unstable-net --no-prompt --allow-read=/tmp/tsu.sock --allow-write=/tmp --allow-sys scripts/tsUserv.ts --unix /tmp/tsu.sock
 * ```
 *
 * @module
 */

import { Replies } from "../lib/datagrams.ts";
import { attempt, fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { formatAddress, waitingLine } from "../lib/net.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { ReplyBuffer, STAMP_LENGTH } from "../lib/timestamp.ts";

const HOST = "0.0.0.0"; // the book's '': every IPv4 interface
const PORT = 21567;
const BUFSIZ = 1024;
const MAX_DATAGRAM = 65_507; // the most a UDP datagram over IPv4 can carry

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsUserv.ts",
  about: "UDP timestamp server (the book's tsUserv.py)",
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
  // With --quiet, `log?.(…)` does nothing, and does not even build its line.
  const log = options.quiet ? undefined : console.log;

  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = trapStopSignals();

  // socket() + bind(): UDP; a Unix datagram socket for --unix is an extra, loaded if asked.
  const address = { hostname: options.host, port: options.port };
  const socket = options.unix === undefined
    ? attempt("listen on", address, () => Deno.listenDatagram({ ...address, transport: "udp" }))
    : await (await loadExtra("--unix", () => import("../server/unix.ts")))
      .listenUnixDatagram(options.unix, options.unixMode);
  console.log(waitingLine(socket.addr));

  // A stop closes the socket, which ends a receive() that waits, once the reply in flight is
  // out; a failure that concerns one sender is said, and the loop goes on (lib/datagrams.ts).
  // Over AF_UNIX, a sender that never reads its replies has them dropped, and the socket may
  // be replaced by a new one at the same path: hence `replies.receive()`.
  const replies = new Replies(socket, stop.signal);

  // The server's endless loop: recvfrom() a datagram, sendto() its sender the stamped reply.
  // Given no buffer, receive() would allocate 64 KiB for every datagram. This one is reused,
  // and each datagram is received just after room for the stamp, so that the reply is the
  // stamp written in front of it: nothing is made or copied per reply.
  const reply = new ReplyBuffer(options.bufsiz);
  try {
    while (!stop.signal.aborted) {
      let data: Uint8Array;
      let client: Deno.Addr;
      try {
        [data, client] = await replies.receive(reply.data);
      } catch (err) {
        if (replies.ended(err)) break;
        continue;
      }
      if (stop.signal.aborted) break; // the stop closed the socket just as this came
      replies.begin(); // a stop lets this reply go out before it closes the socket
      try {
        // '[%s] %s' % (ctime(), data); over AF_UNIX, dropped if its sender does not read them.
        const stamped = reply.stamped(data.length);
        if (await replies.send(client, (socket) => socket.send(stamped, client))) {
          log?.(`...received from and returned to: ${formatAddress(client)}`);
        }
      } catch (err) {
        // One sender we cannot answer (gone, unreachable) is no reason to stop answering others.
        replies.unanswered(err, client);
      } finally {
        replies.end();
      }
    }
  } finally {
    await replies.close();
  }
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
