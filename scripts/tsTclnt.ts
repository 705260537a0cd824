#!/usr/bin/env -S deno run -N
/**
 * TCP timestamp client, after the book's `tsTclnt.py`. Prompts `> `, sends each line you type
 * (without its newline) to a timestamp server, and prints the reply, e.g.
 * `[Thu Jun  4 19:56:18 2020] hello`. It stops at an empty line or the end of input.
 *
 * What differs from the book, and why:
 * - It prints the whole reply to a line, however long; the book's reads 1024 bytes at most, so
 *   the rest of a long reply would show up after the next line.
 * - Bytes go out and come back as they are; nothing is decoded.
 * - It reads standard input as a stream, so piped input works as well as a terminal.
 * - It tries every address the host name resolves to (`localhost` may be `::1` first), and a
 *   refused connection, an unknown host or a server that goes away is one line on stderr.
 *
 * ```sh
 * deno run -N scripts/tsTclnt.ts                   # to localhost:21567
 * printf 'hello\nworld\n' | deno run -N scripts/tsTclnt.ts --port 21567
 * ```
 *
 * @module
 */

import { attempt, fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraAsked, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { printLine, promptLines, unlessStopped } from "../lib/io.ts";
import { ReplyReader } from "../lib/reply.ts";
import { trapStopSignals } from "../lib/shutdown.ts";

const HOST = "localhost";
const PORT = 21567;

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsTclnt.ts",
  about: "TCP timestamp client (the book's tsTclnt.py)",
  flags: {
    host: flag.host(HOST, "server to connect to"),
    port: flag.port(PORT, "server port"),
    // The extras, in server/ (--trace: lib/extras/): loaded only when one of these is given.
    trace: extraFlags.trace, // --trace: each socket call, as it happens
    ...extraFlags.tlsClient, // --tls, --ca
    ...extraFlags.unixClient, // --unix
  },
} satisfies Command;

/** Runs the client until an empty line, end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[], command = COMMAND): Promise<number> {
  const options = parseFlags(args, command);
  if (!options) return 0;
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls();
  }
  using stop = trapStopSignals();

  // socket() + connect(), over TCP; TLS and a Unix socket are extras (server/transport.ts).
  // Ctrl-C ends a connect that waits (on a server too busy to accept).
  const asked = extraAsked(command, options);
  const extras = asked && await loadExtra(asked, () => import("../server/transport.ts"));
  const address = { hostname: options.host, port: options.port };
  const connecting = extras
    ? extras.connectStream(extras.clientTarget(options, command))
    : attempt("connect to", address, () => Deno.connect(address));
  using conn = await unlessStopped(connecting, stop.signal);
  if (conn === null) return 0;
  const server = new ReplyReader(conn);

  // The communication loop: send() a line, recv() its whole reply, print it.
  for await (const line of promptLines(stop.signal)) {
    const reply = await unlessStopped(server.request(line), stop.signal);
    if (reply === null) break;
    await printLine(reply);
  }
  return 0; // `using` closes the connection
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
