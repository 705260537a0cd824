#!/usr/bin/env -S deno run -N
/**
 * SocketServer timestamp client, after the book's `tsTclntSS.py`. Its server answers one line
 * per connection, so this client makes a new connection for every line: it sends the line plus
 * `\r\n`, prints the reply without whitespace at its ends (as the book's `str.strip()`, Unicode
 * whitespace too), and closes. It stops at an empty line or the end of input.
 *
 * What differs from the book, and why:
 * - It connects after you have typed a line, not before: no connection idles while you type.
 * - It waits for the whole reply, however long; one not in UTF-8 is printed, not an error.
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
    // The extras, in server/ (--trace: lib/extras/): loaded only when one of these is given.
    trace: extraFlags.trace, // --trace: each socket call, as it happens
    ...extraFlags.tlsClient, // --tls, --ca
    ...extraFlags.unixClient, // --unix
  },
} satisfies Command;

const ENCODER = new TextEncoder();
const CRLF = ENCODER.encode("\r\n");
/** Runs the client until an empty line, end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls();
  }
  using stop = trapStopSignals();
  // TLS and a Unix socket are extras (server/transport.ts), loaded only when asked.
  const asked = extraAsked(COMMAND, options);
  const extras = asked && await loadExtra(asked, () => import("../server/transport.ts"));
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
    await printLine(strip(reply));
  }
  return 0;
}

/** What Python's `str.isspace()` takes, and so `strip()`: ASCII's whitespace, and Unicode's. */
const SPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" +
  "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }); // as Python's decode()

/**
 * A reply as the book's client prints it, `data.decode('utf-8').strip()`. One that is not
 * UTF-8, where the book's client would crash, loses only ASCII whitespace at its ends.
 */
export function strip(bytes: Uint8Array): Uint8Array {
  let text: string | undefined;
  try {
    text = UTF8.decode(bytes);
  } catch { /* not UTF-8: each byte is a unit, and none from 0x80 up is whitespace */ }
  const ascii = (byte: number) => String.fromCharCode(byte < 0x80 ? byte : 0);
  const space = (i: number) => SPACE.includes(text?.[i] ?? ascii(bytes[i]));
  let [start, end] = [0, text?.length ?? bytes.length];
  while (start < end && space(start)) start++;
  while (end > start && space(end - 1)) end--;
  return text === undefined ? bytes.subarray(start, end) : ENCODER.encode(text.slice(start, end));
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
