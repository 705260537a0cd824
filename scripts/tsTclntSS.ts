#!/usr/bin/env -S deno run -N
/**
 * SocketServer timestamp client, after the book's `tsTclntSS.py`. Its server answers one line
 * per connection, so this client makes a new connection for every line: it sends the line plus
 * `\r\n`, prints the reply without its trailing whitespace, and closes. It stops at an empty
 * line or the end of input.
 *
 * What differs from the book, and why:
 * - It connects after you have typed a line, not before: no connection idles while you type.
 * - It waits for the whole reply, however long, and bytes are never decoded.
 * - A refused connection, an unknown host or a server that closes without replying is one
 *   line on stderr, exit 1.
 *
 * ```sh
 * deno run -N scripts/tsTclntSS.ts                 # to localhost:21567
 * printf 'hello\n' | deno run -N scripts/tsTclntSS.ts
 * ```
 *
 * @module
 */

import { attempt, fatal, loadExtra } from "../lib/errors.ts";
import { type Command, extraAsked, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { concat, printLine, promptLines, unlessStopped } from "../lib/io.ts";
import { ReplyReader } from "../lib/reply.ts";
import { trapStopSignals } from "../lib/shutdown.ts";

const HOST = "localhost";
const PORT = 21567;

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsTclntSS.ts",
  about: "SocketServer timestamp client: a connection per line (the book's tsTclntSS.py)",
  flags: {
    host: flag.host(HOST, "server to connect to"),
    port: flag.port(PORT, "server port"),
    // The extras, in lib/extras/: loaded only when one of these is given.
    ...extraFlags.tlsClient, // --tls, --ca
    ...extraFlags.unixClient, // --unix
  },
} satisfies Command;

const CRLF = new TextEncoder().encode("\r\n");
/** Runs the client until an empty line, end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  using stop = trapStopSignals();
  // TLS and a Unix socket are extras (lib/extras/transport.ts), loaded only when asked.
  const asked = extraAsked(COMMAND, options);
  const extras = asked && await loadExtra(asked, () => import("../lib/extras/transport.ts"));
  const address = { hostname: options.host, port: options.port };
  for await (const line of promptLines(stop.signal)) {
    // socket() + connect(), send() the line, recv() the reply, close(): once per line.
    const connecting = extras
      ? extras.connectStream(extras.clientTarget(options, COMMAND))
      : attempt("connect to", address, () => Deno.connect(address));
    using conn = await unlessStopped(connecting, stop.signal);
    if (conn === null) break;
    const reading = new ReplyReader(conn).request(concat(line, CRLF));
    const reply = await unlessStopped(reading, stop.signal);
    if (reply === null) break;
    await printLine(trimEnd(reply));
  }
  return 0;
}

/** What Python's `str.strip()` takes for whitespace, in the ASCII range. */
const WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20]);
/** `bytes` without trailing whitespace, as the book's client prints its reply. */
function trimEnd(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && WHITESPACE.has(bytes[end - 1])) end--;
  return bytes.subarray(0, end);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
