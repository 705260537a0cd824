#!/usr/bin/env -S deno run -N
/**
 * SocketServer timestamp client, after the book's `tsTclntSS.py`. Its server answers one line
 * per connection, so this client makes a new connection for every line: it sends the line plus
 * `\r\n`, reads until the server closes, prints the reply without whitespace at its ends (as
 * the book's `str.strip()`, Unicode whitespace too), and closes. It stops at an empty line or
 * the end of input.
 *
 * What differs from the book, and why:
 * - It connects after you have typed a line, not before: no connection idles while you type.
 * - It waits for the whole reply, however long; one not in UTF-8 is printed, not an error.
 * - A refused connection, an unknown host or a server that closes without replying is one
 *   line on stderr, exit 1.
 *
 * This is a lesson: for TLS or a Unix socket, run `server/client.ts --proto ss`.
 *
 * ```sh
 * deno run -N scripts/tsTclntSS.ts                 # to localhost:21567
 * printf 'hello\n' | deno run -N scripts/tsTclntSS.ts
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import type { Lesson } from "../lib/command.ts";
import { concat, printLine, promptLines } from "../lib/prompt.ts";
import { closedEarly, Reply } from "../lib/reply.ts";

const HOST = "localhost";
const PORT = 21567;
const BUFSIZ = 64 * 1024; // the most read at a time; a longer reply takes more reads

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTclntSS.ts",
  about: "SocketServer timestamp client: a connection per line (the book's tsTclntSS.py)",
  host: HOST,
  port: PORT,
};

const ENCODER = new TextEncoder();
const CRLF = ENCODER.encode("\r\n");

/** Runs the client until an empty line, the end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;
  const address = { hostname: options.host, port: options.port };
  const data = new Uint8Array(BUFSIZ);
  for await (const line of promptLines()) {
    // socket() + connect(), send() the line, recv() its whole reply, close(): once per line.
    using conn = await attempt("connect to", address, () => Deno.connect(address));
    const message = concat(line, CRLF);
    const sending = (async () => {
      for (let sent = 0; sent < message.length;) sent += await conn.write(message.subarray(sent));
    })().catch(() => {}); // a server gone mid-line shows in the read below
    const reply = new Reply(message); // whole once in; the server then closes, or may not
    while (!reply.done) {
      const n = await conn.read(data);
      if (n === null) throw closedEarly(reply.bytes.length);
      reply.add(data.subarray(0, n));
    }
    await sending;
    await printLine(strip(reply.bytes));
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
