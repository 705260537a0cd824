#!/usr/bin/env -S deno run -N --no-prompt
/**
 * TCP timestamp server on IPv6, after the book's `tsTservV6.py`. It is `tsTserv.ts` listening on
 * `::` instead of `0.0.0.0`, just as the book's listing changes only the address family. On a
 * dual-stack system (Linux by default) `::` answers IPv4 clients too; the log shows them as
 * plain IPv4 (`127.0.0.1`, not `::ffff:127.0.0.1`).
 *
 * To make a server of your own, copy `tsTserv.ts` (and `lib/`): this file only sets defaults.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservV6.ts   # [::]:21567
 * deno run -N scripts/tsTclntV6.ts               # in another terminal
 * ```
 *
 * @module
 */

import { fatal } from "../lib/errors.ts";
import { flag } from "../lib/flags.ts";
import { COMMAND as V4, main } from "./tsTserv.ts";

const HOST = "::"; // every IPv6 interface (and IPv4 ones, where the system is dual-stack)

/** `tsTserv.ts`'s command line, with its own name and default host. */
export const COMMAND = {
  ...V4,
  script: "tsTservV6.ts",
  about: "TCP timestamp server on IPv6 (the book's tsTservV6.py)",
  flags: { ...V4.flags, host: flag.host(HOST, "address to listen on") },
};

if (import.meta.main) {
  Deno.exit(await main(Deno.args, COMMAND).catch(fatal));
}
