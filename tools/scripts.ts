/**
 * Every script's command line, by file name, so that the tests and tools run each one as its
 * `--help` says to (`deno run -N --unstable-net …` for the UDP ones): each script says it once,
 * in its `COMMAND`.
 *
 * @module
 */

import { fatal, readFlags } from "../lib/cli.ts";
import { type Lesson, type Runnable } from "../lib/command.ts";
import { type Command, type Flags, type Options, parseFlags } from "../server/flags.ts";
import { COMMAND as tsLoad } from "../bench/tsLoad.ts";
import { COMMAND as tsTclnt } from "../scripts/tsTclnt.ts";
import { COMMAND as tsTclntSS } from "../scripts/tsTclntSS.ts";
import { COMMAND as tsTclntV6 } from "../scripts/tsTclntV6.ts";
import { COMMAND as tsTserv } from "../scripts/tsTserv.ts";
import { COMMAND as tsTservSS } from "../scripts/tsTservSS.ts";
import { COMMAND as tsTservV6 } from "../scripts/tsTservV6.ts";
import { COMMAND as tsUclnt } from "../scripts/tsUclnt.ts";
import { COMMAND as tsUserv } from "../scripts/tsUserv.ts";
import { COMMAND as tsUservSS } from "../scripts/tsUservSS.ts";
import { COMMAND as client } from "../server/client.ts";
import { COMMAND as tsd } from "../server/tsd.ts";

/** The book's eight scripts, as the README's table lists them. */
export const BOOK_SCRIPTS = [
  "tsTserv.ts",
  "tsTservV6.ts",
  "tsTclnt.ts",
  "tsTclntV6.ts",
  "tsUserv.ts",
  "tsUclnt.ts",
  "tsTservSS.ts",
  "tsTclntSS.ts",
];

/** Each script's command line, by file name. */
export const COMMANDS: Record<string, Runnable> = Object.fromEntries(
  [
    tsTserv,
    tsTservV6,
    tsTclnt,
    tsTclntV6,
    tsUserv,
    tsUclnt,
    tsTservSS,
    tsTclntSS,
    tsUservSS,
    tsLoad,
    tsd,
    client,
  ]
    .map((command) => [command.script.replace(/^.*\//, ""), command]),
);

/** A script's path (in `scripts/`, unless its command names another folder), found from this file so that it runs from any folder. */
export function scriptPath(script: string): string {
  const path = COMMANDS[script]?.script.includes("/")
    ? COMMANDS[script].script
    : `scripts/${script}`;
  return new URL(`../${path}`, import.meta.url).pathname;
}

/** The arguments of `deno run` for one of our scripts, as its `--help` gives them. */
export function denoArgs(script: string, args: string[] = []): string[] {
  const command = COMMANDS[script];
  if (!command) throw new Error(`no script ${script}`);
  return ["run", ...(command.run ?? "-N").split(" "), scriptPath(script), ...args];
}

/**
 * Reads `args` as `script` would, without acting on them (no `--help` printed, no trace
 * started): a lesson's few flags, or a production command's.
 */
export async function readOptions(
  script: string,
  args: string[],
): Promise<Record<string, unknown> | undefined> {
  const command = COMMANDS[script];
  if ("flags" in command) return parseFlags(args, command as Command);
  return await readFlags(args, command as Lesson);
}

/** For a tool's top level: its options, or exit as a script would (after `--help`, or a usage error). */
export async function optionsOrExit<F extends Flags>(command: Command<F>): Promise<Options<F>> {
  try {
    return parseFlags(Deno.args, command) ?? Deno.exit(0);
  } catch (err) {
    return await fatal(err);
  }
}
