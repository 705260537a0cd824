/**
 * `--help`, written from a command's list of options, and what a command line that cannot be
 * read says: loaded only when needed.
 *
 * @module
 */

import {
  type Lesson,
  type LessonOptions,
  runCommand,
  type Runnable,
  UsageError,
  usageError,
} from "./command.ts";

/** `--help`: a line on the script, how to run it, then its options, `[name, what]`, aligned. */
export function helpText(command: Runnable & { about: string }, rows: string[][]): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = rows.map(([name, help]) => `  ${name.padEnd(width)}  ${help}`);
  return `${command.script}: ${command.about}\n\nUSAGE:\n  ${runCommand(command)} [OPTIONS]\n\n` +
    `OPTIONS:\n${lines.join("\n")}\n`;
}

/** The `--help` text of a lesson. */
export function usage(lesson: Lesson): string {
  const [host, port] = lesson.serves
    ? ["address to listen on", "port to listen on, 0 for any free one"]
    : ["server to connect to", "server port"];
  const wait = lesson.timeout ?? 0;
  return helpText(lesson, [
    ["-h, --help", "show this help and exit"],
    ["    --host HOST", `${host} (default: ${lesson.host})`],
    ["-p, --port PORT", `${port} (default: ${lesson.port})`],
    ...wait
      ? [["    --timeout SECONDS", `how long to wait for each reply (default: ${wait})`]]
      : [],
    ["    --trace", TRACE_HELP],
  ]);
}

export const TRACE_HELP = "show each socket call on stderr, in the book's words and Deno's";

/**
 * A lesson's arguments that `parseArgs` could not read, read again: `--port -1` as `--port=-1`,
 * which it finds "ambiguous" (so that the error says what is wrong with -1); else its error.
 */
export function readAgain(
  args: string[],
  lesson: Lesson,
  err: Error,
  readFlags: (args: string[], lesson: Lesson) => Promise<LessonOptions>,
): Promise<LessonOptions> {
  const { hint } = usageError(lesson, "");
  const valued = ["--host", "--port", "-p", ...lesson.timeout ? ["--timeout"] : []];
  let joined: string[];
  try {
    joined = negativesAsValues(args, new Map(valued.map((v) => [v, v === "-p" ? "--port" : v])));
  } catch (err) {
    throw new UsageError((err as Error).message, hint);
  }
  if (joined.join("\0") !== args.join("\0")) return readFlags(joined, lesson);
  // parseArgs explains itself well; its first line is the part worth showing.
  throw new UsageError(String(err.message).split("\n")[0], hint);
}

/**
 * `--port -1` as `--port=-1`; `--host -h` refused, with a fix. `valued` maps each way of writing
 * a flag that takes a value to its long name.
 */
export function negativesAsValues(args: string[], valued: Map<string, string>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [given, long, next = ""] = [args[i], valued.get(args[i]), args[i + 1]];
    if (long && /^-\D/.test(next)) {
      throw new Error(`${given} ${next}: write ${long}=${next} if "${next}" is its value`);
    }
    joined.push(long && /^-\d/.test(next) ? `${long}=${args[++i]}` : given);
  }
  return joined;
}
