/**
 * The command line every script shares: `-h/--help`, `--host`, `-p/--port`, and for servers
 * `--bufsiz` and `-q/--quiet`, for the UDP client `--timeout`. One table below drives both the
 * parser (`node:util` `parseArgs`, strict) and the `--help` text, so they cannot drift apart.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** The book's port. */
export const DEFAULT_PORT = 21567;
/** The book's BUFSIZ: the most bytes a server reads, and so answers, at a time. */
export const BUFSIZ = 1024;
/** How long the UDP client waits for a reply, in seconds. */
export const DEFAULT_TIMEOUT = 2;

/** What kind of script a command line belongs to; it decides which flags exist. */
export type Role = "server" | "client" | "udp-client";

/** A script's command line: its name, one line on what it does, and its defaults. */
export interface Cli {
  /** File name, e.g. `tsTserv.ts`. */
  script: string;
  /** One line for the top of `--help`. */
  about: string;
  role: Role;
  /** The default `--host`: where a server listens, or the server a client goes to. */
  host: string;
  /** Whether the script needs `--unstable-net` (the UDP ones do). */
  unstableNet?: boolean;
}

/** The settings a command line can give. Flags a script does not take keep their defaults. */
export interface Options {
  host: string;
  port: number;
  bufsiz: number;
  quiet: boolean;
  /** Seconds. */
  timeout: number;
}

interface Flag {
  name: keyof Options | "help";
  short?: string;
  /** The value's placeholder in `--help`; a flag without one is a boolean switch. */
  value?: string;
  roles: Role[];
  help: (cli: Cli) => string;
}

const ALL: Role[] = ["server", "client", "udp-client"];

const FLAGS: Flag[] = [
  { name: "help", short: "h", roles: ALL, help: () => "show this help and exit" },
  {
    name: "host",
    value: "HOST",
    roles: ALL,
    help: (cli) =>
      cli.role === "server"
        ? `address to listen on (default: ${cli.host})`
        : `server to connect to (default: ${cli.host})`,
  },
  {
    name: "port",
    short: "p",
    value: "PORT",
    roles: ALL,
    help: (cli) =>
      cli.role === "server"
        ? `port to listen on, 0 for any free one (default: ${DEFAULT_PORT})`
        : `server port (default: ${DEFAULT_PORT})`,
  },
  {
    name: "bufsiz",
    value: "BYTES",
    roles: ["server"],
    help: () => `most bytes read, and answered, at a time (default: ${BUFSIZ})`,
  },
  {
    name: "quiet",
    short: "q",
    roles: ["server"],
    help: () => "log no line per connection or message",
  },
  {
    name: "timeout",
    value: "SECONDS",
    roles: ["udp-client"],
    help: () => `how long to wait for each reply (default: ${DEFAULT_TIMEOUT})`,
  },
];

/** The command that runs a script from the repository's root. */
export function runCommand(cli: Cli): string {
  const unstable = cli.unstableNet ? " --unstable-net" : "";
  return `deno run -N${unstable} scripts/${cli.script}`;
}

/** The `--help` text of a script. */
export function usage(cli: Cli): string {
  const rows = FLAGS.filter((flag) => flag.roles.includes(cli.role)).map((flag) => {
    const names = (flag.short ? `-${flag.short}, ` : "    ") + `--${flag.name}`;
    return `  ${`${names}${flag.value ? ` ${flag.value}` : ""}`.padEnd(22)} ${flag.help(cli)}`;
  });
  return `${cli.script}: ${cli.about}\n\nUSAGE:\n  ${runCommand(cli)} [OPTIONS]\n\n` +
    `OPTIONS:\n${rows.join("\n")}\n`;
}

/**
 * Parses a script's arguments.
 *
 * @param args The arguments, usually `Deno.args`.
 * @param cli The script's command line.
 * @returns The options, or `undefined` when `--help` was asked for (the help is then printed).
 * @throws {UsageError} For an unknown flag, a stray argument or a bad value.
 */
export function parseFlags(args: string[], cli: Cli): Options | undefined {
  const hint = `Run '${runCommand(cli)} --help' for usage.`;
  const flags = FLAGS.filter((flag) => flag.roles.includes(cli.role));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(flags.map((flag) => [flag.name, {
        type: flag.value ? "string" as const : "boolean" as const,
        ...(flag.short ? { short: flag.short } : {}),
      }])),
    }).values;
  } catch (err) {
    // parseArgs explains itself well; its first line is the part worth showing.
    throw new UsageError(String((err as Error).message).split("\n")[0], hint);
  }
  if (values.help) {
    console.log(usage(cli));
    return undefined;
  }
  const bad = (message: string) => new UsageError(message, hint);
  const text = (name: string) => values[name] as string | undefined;

  const host = text("host")?.replace(/^\[(.*)\]$/, "$1") ?? cli.host;
  if (host === "") throw bad(`--host must not be empty (use ${cli.host})`);
  const minPort = cli.role === "server" ? 0 : 1;
  return {
    host,
    port: wholeNumber(text("port"), DEFAULT_PORT, "--port", minPort, 65535, bad),
    bufsiz: wholeNumber(text("bufsiz"), BUFSIZ, "--bufsiz", 1, 1 << 20, bad),
    quiet: values.quiet === true,
    timeout: seconds(text("timeout"), DEFAULT_TIMEOUT, "--timeout", bad),
  };
}

type Bad = (message: string) => UsageError;

function wholeNumber(
  raw: string | undefined,
  fallback: number,
  flag: string,
  min: number,
  max: number,
  bad: Bad,
): number {
  if (raw === undefined) return fallback;
  // Number() alone would accept "", " 8", "0x10" and "1e3"; a port is digits and nothing else.
  const value = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw bad(`${flag} must be a whole number from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

function seconds(raw: string | undefined, fallback: number, flag: string, bad: Bad): number {
  if (raw === undefined) return fallback;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(value > 0 && value <= 86400)) {
    throw bad(`${flag} must be a number of seconds above 0 and at most 86400, not "${raw}"`);
  }
  return value;
}
