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
 * - A refused connection, an unknown host or a server that goes away is one line on stderr.
 *
 * A line that itself holds stamps could, cut by the server at just the wrong places, make a
 * reply look whole early; `server/client.ts` waits such a reply out.
 *
 * This is a lesson: for TLS or a Unix socket, run `server/client.ts --proto tcp`.
 *
 * ```sh
 * deno run -N scripts/tsTclnt.ts                   # to localhost:21567
 * printf 'hello\nworld\n' | deno run -N scripts/tsTclnt.ts --port 21567
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import type { Lesson } from "../lib/command.ts";
import { printLine, promptLines } from "../lib/prompt.ts";
import { closedEarly, Reply, SILENCE, SILENCE_MS } from "../lib/reply.ts";

const HOST = "localhost";
const PORT = 21567;
const BUFSIZ = 64 * 1024; // the most read at a time; a longer reply takes more reads

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTclnt.ts",
  about: "TCP timestamp client (the book's tsTclnt.py)",
  host: HOST,
  port: PORT,
};

/** Runs the client until an empty line, the end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;

  // socket() + connect(), in one call: Deno tries each address the name has (`localhost` may
  // be ::1 first), as Python's create_connection() does.
  const lines = promptLines(); // from here on, Ctrl-C exits at once
  const address = { hostname: options.host, port: options.port };
  using conn = await attempt("connect to", address, () => Deno.connect(address));

  await converse(conn, lines);
  return 0; // `using` closes the connection
}

/** The communication loop: send() a line, recv() until its whole reply is in, print it. */
export async function converse(conn: Deno.Conn, lines: AsyncIterable<Uint8Array>) {
  const data = new Uint8Array(BUFSIZ);
  for await (const line of lines) {
    // send() all of it (a write may take only part: this is sendall()), while reading below:
    // a server that answers a long line as it reads it would otherwise fill both directions'
    // buffers, and each side would wait on the other for ever.
    const sending = (async () => {
      for (let sent = 0; sent < line.length;) sent += await conn.write(line.subarray(sent));
    })().catch(() => {}); // a server gone mid-line shows in the read below
    const reply = new Reply(line); // the server stamps each read it makes: parts, perhaps
    const silence = setTimeout(() => console.error(SILENCE), SILENCE_MS); // said once, if so
    while (!reply.done) {
      const n = await conn.read(data); // recv()
      if (n === null) throw closedEarly(reply.bytes.length);
      reply.add(data.subarray(0, n));
    }
    clearTimeout(silence);
    await sending;
    await printLine(reply.bytes);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
