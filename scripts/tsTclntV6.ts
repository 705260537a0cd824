#!/usr/bin/env -S deno run -N
/**
 * TCP timestamp client over IPv6, after the book's `tsTclntV6.py`. It is `tsTclnt.ts` going to
 * `::1` instead of `localhost`, just as the book's listing changes only the address family.
 *
 * To make a client of your own, copy `tsTclnt.ts` (and `lib/`): this file only sets defaults.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTservV6.ts   # in one terminal
 * deno run -N scripts/tsTclntV6.ts               # to [::1]:21567
 * ```
 *
 * @module
 */

import { fatal } from "../lib/errors.ts";
import { flag } from "../lib/flags.ts";
import { COMMAND as V4, main } from "./tsTclnt.ts";

const HOST = "::1"; // this machine, over IPv6

/** `tsTclnt.ts`'s command line, with its own name and default host. */
export const COMMAND = {
  ...V4,
  script: "tsTclntV6.ts",
  about: "TCP timestamp client over IPv6 (the book's tsTclntV6.py)",
  flags: { ...V4.flags, host: flag.host(HOST, "server to connect to") },
};

if (import.meta.main) {
  Deno.exit(await main(Deno.args, COMMAND).catch(fatal));
}
