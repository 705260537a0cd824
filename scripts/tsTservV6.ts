#!/usr/bin/env -S deno run -N
/**
 * TCP timestamp server on IPv6, after the book's `tsTservV6.py`. It is `tsTserv.ts` listening on
 * `::` instead of `0.0.0.0`, just as the book's listing changes only the address family. On a
 * dual-stack system (Linux by default) `::` answers IPv4 clients too; the log shows them as
 * plain IPv4 (`127.0.0.1`, not `::ffff:127.0.0.1`).
 *
 * To make a server of your own, copy `tsTserv.ts` (and `lib/`): this file only sets defaults.
 *
 * ```sh
 * deno run -N scripts/tsTservV6.ts          # [::]:21567
 * deno run -N scripts/tsTclntV6.ts          # in another terminal
 * ```
 *
 * @module
 */

import { fatal } from "../lib/errors.ts";
import { CLI, main } from "./tsTserv.ts";

if (import.meta.main) {
  const cli = {
    ...CLI,
    script: "tsTservV6.ts",
    about: "TCP timestamp server on IPv6 (the book's tsTservV6.py)",
    host: "::",
  };
  Deno.exit(await main(Deno.args, cli).catch(fatal));
}
