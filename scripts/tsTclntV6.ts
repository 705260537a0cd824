#!/usr/bin/env -S deno run -N
/**
 * TCP timestamp client over IPv6, after the book's `tsTclntV6.py`: `tsTclnt.ts` going to `::1`,
 * this machine's IPv6 loopback address. What changes for IPv6 is the address alone: the book
 * makes its socket with `AF_INET6`, and `Deno.connect()` picks the family from the address it
 * is given. The conversation is `tsTclnt.ts`'s, as in the book.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservV6.ts   # in one terminal
 * deno run -N scripts/tsTclntV6.ts               # to [::1]:21567
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import { type Lesson } from "../lib/command.ts";
import { promptLines } from "../lib/prompt.ts";
import { converse } from "./tsTclnt.ts";

const HOST = "::1"; // this machine, over IPv6 (the book's tsTclnt.py has 'localhost')
const PORT = 21567;

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTclntV6.ts",
  about: "TCP timestamp client over IPv6 (the book's tsTclntV6.py)",
  host: HOST,
  port: PORT,
};

/** Runs the client until an empty line, the end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;

  // socket(AF_INET6, SOCK_STREAM) + connect(): an IPv6 address makes an IPv6 socket.
  const lines = promptLines(); // from here on, Ctrl-C exits at once
  const address = { hostname: options.host, port: options.port };
  using conn = await attempt("connect to", address, () => Deno.connect(address));

  await converse(conn, lines); // send(), recv(): tsTclnt.ts's
  return 0; // `using` closes the connection
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
