#!/usr/bin/env -S deno run -N --no-prompt
/**
 * TCP timestamp server on IPv6, after the book's `tsTservV6.py`: `tsTserv.ts` listening on
 * `::`, every IPv6 interface. What changes for IPv6 is the address alone: the book makes its
 * socket with `AF_INET6`, and `Deno.listen()` picks the family from the address it is given.
 * Serving is `tsTserv.ts`'s, as in the book. On a dual-stack system (Linux by default) `::`
 * takes IPv4 clients too; the log shows them as plain IPv4 (`127.0.0.1`, not
 * `::ffff:127.0.0.1`).
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservV6.ts   # [::]:21567
 * deno run -N scripts/tsTclntV6.ts               # in another terminal
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import { formatAddress, type Lesson } from "../lib/command.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { serveForever } from "./tsTserv.ts";

const HOST = "::"; // every IPv6 interface (the book's tsTserv.py has '', every IPv4 one)
const PORT = 21567;

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsTservV6.ts",
  about: "TCP timestamp server on IPv6 (the book's tsTservV6.py)",
  run: "-N --no-prompt", // a server must never stop to ask a terminal for leave
  serves: true,
  host: HOST,
  port: PORT,
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;
  using stop = trapStopSignals();

  // socket(AF_INET6, SOCK_STREAM) + bind() + listen(): an IPv6 address makes an IPv6 socket.
  const address = { hostname: options.host, port: options.port };
  const listener = attempt("listen on", address, () => Deno.listen(address));
  console.log(`waiting for connection on ${formatAddress(listener.addr)}...`);
  await serveForever(listener, stop.signal); // accept(), recv(), send(): tsTserv.ts's
  console.log(`server stopped (${stop.signal.reason})`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
