/**
 * The command line every script shares: `-h/--help`, `--host`, `-p/--port`; for servers
 * `--bufsiz` and `-q/--quiet`, for TCP servers `--idle-timeout`, for the line server
 * `--max-line` and `--line-timeout`, for the UDP client `--timeout`, and for the load generator
 * (`tsLoad.ts`) what load to make. One table below drives both the parser (`node:util`
 * `parseArgs`, strict) and the `--help` text, so they cannot drift apart.
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
/** How long a TCP server keeps a connection on which nothing moves, in seconds. */
export const DEFAULT_IDLE_TIMEOUT = 300;
/** The longest line the line server (`tsTservSS.ts`) takes, in bytes, its newline included. */
export const DEFAULT_MAX_LINE = 64 * 1024;
/** How long the line server gives a line, from its first byte to its newline, in seconds. */
export const DEFAULT_LINE_TIMEOUT = 30;

/**
 * What kind of script a command line belongs to; it decides which flags exist. A line server
 * is a TCP server that reads a line per connection (`tsTservSS.ts`).
 */
export type Role = "tcp-server" | "line-server" | "udp-server" | "client" | "udp-client" | "load";

/** What the load generator speaks: TCP, UDP, or TCP with a connection per line (`tsTservSS`). */
export type Proto = "tcp" | "udp" | "ss";
const PROTOS: Proto[] = ["tcp", "udp", "ss"];

/** Whether scripts of `role` are servers. */
export function isServer(role: Role): boolean {
  return role.endsWith("-server");
}

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
  /** Seconds; 0 for none. */
  idleTimeout: number;
  /** Bytes. */
  maxLine: number;
  /** Seconds; 0 for none. */
  lineTimeout: number;
  /** The load generator's protocol. */
  proto: Proto;
  /** The load generator's clients at once. */
  conns: number;
  /** Seconds the load generator measures, after `warmup` seconds not counted. */
  duration: number;
  warmup: number;
  /** The load generator's payload bytes per request. */
  size: number;
  /** Whether the load generator prints JSON. */
  json: boolean;
}

interface Flag {
  name: string;
  short?: string;
  /** The value's placeholder in `--help`; a flag without one is a boolean switch. */
  value?: string;
  roles: Role[];
  help: (cli: Cli) => string;
}

const SERVERS: Role[] = ["tcp-server", "line-server", "udp-server"];
const ALL: Role[] = [...SERVERS, "client", "udp-client", "load"];

const FLAGS: Flag[] = [
  { name: "help", short: "h", roles: ALL, help: () => "show this help and exit" },
  {
    name: "host",
    value: "HOST",
    roles: ALL,
    help: (cli) =>
      isServer(cli.role)
        ? `address to listen on (default: ${cli.host})`
        : `server to connect to (default: ${cli.host})`,
  },
  {
    name: "port",
    short: "p",
    value: "PORT",
    roles: ALL,
    help: (cli) =>
      isServer(cli.role)
        ? `port to listen on, 0 for any free one (default: ${DEFAULT_PORT})`
        : `server port (default: ${DEFAULT_PORT})`,
  },
  {
    name: "bufsiz",
    value: "BYTES",
    roles: SERVERS,
    help: (cli) =>
      cli.role === "udp-server"
        ? `most bytes of a datagram answered; the rest is cut (default: ${BUFSIZ})`
        : `most bytes read, and answered, at a time (default: ${BUFSIZ})`,
  },
  {
    name: "idle-timeout",
    value: "SECONDS",
    roles: ["tcp-server", "line-server"],
    help: () => `close a connection idle this long, 0 for never (default: ${DEFAULT_IDLE_TIMEOUT})`,
  },
  {
    name: "max-line",
    value: "BYTES",
    roles: ["line-server"],
    help: () => `close a connection whose line is longer (default: ${DEFAULT_MAX_LINE})`,
  },
  {
    name: "line-timeout",
    value: "SECONDS",
    roles: ["line-server"],
    help: () =>
      `close a connection whose line takes longer, 0 for never (default: ${DEFAULT_LINE_TIMEOUT})`,
  },
  {
    name: "quiet",
    short: "q",
    roles: SERVERS,
    help: () => "log no line per connection or message",
  },
  {
    name: "proto",
    value: "PROTO",
    roles: ["load"],
    help: () => "tcp, udp, or ss: tcp with a connection per line (default: tcp)",
  },
  {
    name: "conns",
    short: "c",
    value: "N",
    roles: ["load"],
    help: () => `clients at once, each with one request in flight (default: ${LOAD.conns})`,
  },
  {
    name: "duration",
    short: "d",
    value: "SECONDS",
    roles: ["load"],
    help: () => `how long to measure (default: ${LOAD.duration})`,
  },
  {
    name: "warmup",
    value: "SECONDS",
    roles: ["load"],
    help: () => `load before measuring, not counted; 0 for none (default: ${LOAD.warmup})`,
  },
  {
    name: "size",
    value: "BYTES",
    roles: ["load"],
    help: () => `payload bytes per request, a newline included for ss (default: ${LOAD.size})`,
  },
  {
    name: "timeout",
    value: "SECONDS",
    roles: ["udp-client", "load"],
    help: (cli) =>
      cli.role === "load"
        ? `count a UDP reply lost after this long (default: ${LOAD.timeout})`
        : `how long to wait for each reply (default: ${DEFAULT_TIMEOUT})`,
  },
  {
    name: "json",
    roles: ["load"],
    help: () => "print the results as one JSON object",
  },
];

/**
 * The load generator's defaults; `timeout` is how long it waits for a UDP reply before it counts
 * the datagram lost.
 */
export const LOAD = { conns: 16, duration: 10, warmup: 1, size: 64, timeout: 1 } as const;
/** The most clients, seconds and payload bytes the load generator takes. */
export const LOAD_LIMITS = { conns: 10_000, duration: 3600, size: 65_507 } as const;

/** The command that runs a script from the repository's root. */
export function runCommand(cli: Cli): string {
  const unstable = cli.unstableNet ? " --unstable-net" : "";
  return `deno run -N${unstable} scripts/${cli.script}`;
}

/** The `--help` text of a script. */
export function usage(cli: Cli): string {
  const flags = FLAGS.filter((flag) => flag.roles.includes(cli.role));
  const names = flags.map((flag) =>
    (flag.short ? `-${flag.short}, ` : "    ") + `--${flag.name}` +
    (flag.value ? ` ${flag.value}` : "")
  );
  const width = Math.max(...names.map((name) => name.length));
  const rows = flags.map((flag, i) => `  ${names[i].padEnd(width)}  ${flag.help(cli)}`);
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
  const minPort = isServer(cli.role) ? 0 : 1;
  return {
    host,
    port: wholeNumber(text("port"), DEFAULT_PORT, "--port", minPort, 65535, bad),
    bufsiz: wholeNumber(text("bufsiz"), BUFSIZ, "--bufsiz", 1, 1 << 20, bad),
    quiet: values.quiet === true,
    timeout: seconds(
      text("timeout"),
      cli.role === "load" ? LOAD.timeout : DEFAULT_TIMEOUT,
      "--timeout",
      bad,
    ),
    idleTimeout: seconds(text("idle-timeout"), DEFAULT_IDLE_TIMEOUT, "--idle-timeout", bad, {
      zero: "never",
    }),
    maxLine: wholeNumber(text("max-line"), DEFAULT_MAX_LINE, "--max-line", 1, 16 << 20, bad),
    lineTimeout: seconds(text("line-timeout"), DEFAULT_LINE_TIMEOUT, "--line-timeout", bad, {
      zero: "never",
    }),
    proto: proto(text("proto"), bad),
    conns: wholeNumber(text("conns"), LOAD.conns, "--conns", 1, LOAD_LIMITS.conns, bad),
    duration: seconds(text("duration"), LOAD.duration, "--duration", bad, {
      max: LOAD_LIMITS.duration,
    }),
    warmup: seconds(text("warmup"), LOAD.warmup, "--warmup", bad, {
      zero: "none",
      max: LOAD_LIMITS.duration,
    }),
    size: wholeNumber(text("size"), LOAD.size, "--size", 1, LOAD_LIMITS.size, bad),
    json: values.json === true,
  };
}

function proto(raw: string | undefined, bad: Bad): Proto {
  if (raw === undefined) return "tcp";
  if (!(PROTOS as string[]).includes(raw)) {
    throw bad(`--proto must be one of ${PROTOS.join(", ")}, not "${raw}"`);
  }
  return raw as Proto;
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
  const value = /^\d{1,8}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw bad(`${flag} must be a whole number from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

/**
 * A number of seconds: above 0 and at most `max` (a day), or from 0 if `zero` says what 0 means
 * ("never", "none").
 */
function seconds(
  raw: string | undefined,
  fallback: number,
  flag: string,
  bad: Bad,
  { zero, max = 86400 }: { zero?: string; max?: number } = {},
): number {
  if (raw === undefined) return fallback;
  const value = /^\d{1,6}(\.\d{1,6})?$/.test(raw) ? Number(raw) : NaN;
  if (!((zero ? value >= 0 : value > 0) && value <= max)) {
    const range = zero ? `from 0 (${zero}) to ${max}` : `above 0 and at most ${max}`;
    throw bad(`${flag} must be a number of seconds ${range}, not "${raw}"`);
  }
  return value;
}
