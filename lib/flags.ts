/**
 * Command lines. Each script lists the flags it takes, with its defaults, in a
 * {@linkcode Command}; {@linkcode parseFlags} reads them (`node:util` `parseArgs`, strict), and
 * `--help` is written from the same list. {@linkcode flag} makes the flags scripts share:
 * `parseFlags(args, { script, about, flags: { port: flag.port(21567, "…") } })` gives
 * `{ port: number }`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCommand, type Runnable, UsageError, usageError } from "./errors.ts";

/** One flag: how it is written, what `--help` says of it, and how its value is read. */
export interface Flag<T> {
  name: string; // without `--`: `idle-timeout`
  short?: string; // a one-letter alias, without `-`
  /** The value's placeholder in `--help` (`SECONDS`); a flag without one is an on/off switch. */
  value?: string;
  help: string; // `--help` adds the default
  default: T;
  /** Reads a given value; throws a `RangeError` saying what is wrong with it. */
  parse: (raw: string) => T;
  /** Writes a value as it is given (the default, in `--help`); `String` if not said. */
  show?(value: T): string;
  /** Served by `lib/extras/`, which a script loads only when this flag is given. */
  extra?: true;
}

/** A script's command line: its file, one line on what it does, how to run it, its flags. */
export interface Command<F extends Flags = Flags> extends Runnable {
  about: string;
  flags: F;
}

// deno-lint-ignore no-explicit-any
export type Flags = Record<string, Flag<any>>;

/** What {@linkcode parseFlags} returns: each flag's value, under the flag's key. */
export type Options<F extends Flags> = {
  [K in keyof F]: ReturnType<F[K]["parse"]> | F[K]["default"];
};

/** The `--help` text of a script. */
export function usage(command: Command): string {
  const flags = [HELP, ...Object.values(command.flags)];
  const names = flags.map((flag) =>
    (flag.short ? `-${flag.short}, ` : "    ") + `--${flag.name}` +
    (flag.value ? ` ${flag.value}` : "")
  );
  const width = Math.max(...names.map((name) => name.length));
  const rows = flags.map((flag, i) => {
    const shown = flag.default !== undefined && (flag.show?.(flag.default) ?? String(flag.default));
    const fallback = flag.value && shown ? ` (default: ${shown})` : "";
    return `  ${names[i].padEnd(width)}  ${flag.help}${fallback}`;
  });
  return `${command.script}: ${command.about}\n\nUSAGE:\n  ${runCommand(command)} [OPTIONS]\n\n` +
    `OPTIONS:\n${rows.join("\n")}\n`;
}

/**
 * Reads a script's arguments: the options, or `undefined` after printing `--help`.
 *
 * @throws {UsageError} For an unknown flag, a stray argument or a bad value.
 */
export function parseFlags<F extends Flags>(
  args: string[],
  command: Command<F>,
): Options<F> | undefined {
  const hint = usageError(command, "").hint;
  const flags = [HELP, ...Object.values(command.flags)];
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: negativesAsValues(args, flags),
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
    console.log(usage(command));
    return undefined;
  }
  const options: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(command.flags)) {
    const raw = values[flag.name];
    try {
      options[key] = raw === undefined ? flag.default : flag.parse(String(raw));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      throw new UsageError(`--${flag.name} ${err.message}`, hint);
    }
  }
  return options as Options<F>;
}

/**
 * `--port -1` as `--port=-1`: parseArgs would refuse `-1` as "ambiguous" (it might be a flag),
 * where the user should hear what is wrong with the value.
 */
function negativesAsValues(args: string[], flags: Flag<unknown>[]): string[] {
  const valued = new Map<string, string>();
  for (const { name, short } of flags.filter((flag) => flag.value)) {
    valued.set(`--${name}`, name);
    if (short) valued.set(`-${short}`, name);
  }
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = valued.get(args[i]);
    joined.push(name && /^-\d/.test(args[i + 1] ?? "") ? `--${name}=${args[++i]}` : args[i]);
  }
  return joined;
}

/** A whole number from `min` to `max`: digits only, so "", " 8", "0x10" and "1e3" are refused. */
function whole(raw: string, min: number, max: number): number {
  const value = /^\d{1,8}$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new RangeError(`must be a whole number from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

/** A number of `unit`s: above 0, or from 0 if `zero` says what 0 means ("never"); `max` at most. */
function decimal(raw: string, unit: string, zero: string | undefined, max: number): number {
  const value = /^\d{1,6}(\.\d{1,6})?$/.test(raw) ? Number(raw) : NaN;
  if (!((zero ? value >= 0 : value > 0) && value <= max)) {
    const range = zero ? `from 0 (${zero}) to ${max}` : `above 0 and at most ${max}`;
    throw new RangeError(`must be a number of ${unit} ${range}, not "${raw}"`);
  }
  return value;
}

/** How a number flag is written and bounded; `value` is its placeholder (and unit), `zero` what 0 means. */
export interface NumberShape {
  min?: number;
  max?: number;
  short?: string;
  value?: string;
  zero?: string;
}

/** The flags that several scripts take, each made with the script's own default. */
export const flag = {
  /** `--host`: where a server listens, or the server a client goes to. `[::1]` is taken too. */
  host: (fallback: string, help: string): Flag<string> => ({
    name: "host",
    value: "HOST",
    help,
    default: fallback,
    parse(raw) {
      const host = raw.replace(/^\[(.*)\]$/, "$1");
      if (host === "") throw new RangeError(`must not be empty (use ${fallback})`);
      return host;
    },
  }),

  /** `-p, --port`; `min` 0 for a server, where 0 picks any free port. */
  port: (fallback: number, help: string, min = 1): Flag<number> =>
    flag.whole("port", fallback, help, { min, max: 65535, short: "p", value: "PORT" }),

  /** A whole number, of bytes unless `value` says otherwise: `--bufsiz BYTES`. */
  whole: (name: string, fallback: number, help: string, shape: NumberShape = {}): Flag<number> => ({
    name,
    short: shape.short,
    value: shape.value ?? "BYTES",
    help,
    default: fallback,
    parse: (raw) => whole(raw, shape.min ?? 1, shape.max ?? 1 << 30),
  }),

  /** A number of seconds (a day at most, unless `max` says), or of the unit `value` names. */
  seconds: (
    name: string,
    fallback: number,
    help: string,
    shape: NumberShape = {},
  ): Flag<number> => ({
    name,
    short: shape.short,
    value: shape.value ?? "SECONDS",
    help: shape.zero ? `${help}, 0 for ${shape.zero}` : help,
    default: fallback,
    parse: (raw) =>
      decimal(raw, (shape.value ?? "SECONDS").toLowerCase(), shape.zero, shape.max ?? 86400),
  }),

  /** A file's path, such as `--tls-cert FILE`; none unless given. */
  file: (name: string, help: string): Flag<string | undefined> => ({
    name,
    value: "FILE",
    help,
    default: undefined,
    parse: (raw) => raw,
  }),

  /** An on/off switch, off unless given. */
  onOff: (name: string, help: string, short?: string): Flag<boolean> => ({
    name,
    short,
    help,
    default: false,
    parse: () => true,
  }),

  /** `-q, --quiet`, for servers: no log line per connection or message. */
  quiet: (): Flag<boolean> => flag.onOff("quiet", "log no line per connection or message", "q"),
};

const HELP = flag.onOff("help", "show this help and exit", "h");

/**
 * The first flag of `command` that `options` give a value other than its default and that
 * `lib/extras/` serves (`"--tls-cert"`), or `undefined` on the default path.
 */
export function extraAsked<F extends Flags>(
  command: Command<F>,
  options: Options<F>,
): string | undefined {
  const given = Object.entries(command.flags)
    .find(([key, flag]) => flag.extra && options[key] !== flag.default);
  return given && `--${given[1].name}`;
}

/** Marks a flag as one that `lib/extras/` serves. */
const extra = <T>(made: Flag<T>): Flag<T> => ({ ...made, extra: true });

/** A server's TLS flags (`lib/extras/tls.ts`): a certificate and key, both or neither. */
export const TLS_SERVER_FLAGS = {
  tlsCert: extra(flag.file("tls-cert", "serve TLS, with this PEM certificate (chain)")),
  tlsKey: extra(flag.file("tls-key", "and this PEM private key")),
  handshakeTimeout: flag.seconds(
    "handshake-timeout",
    10,
    "close a TLS connection not set up by then",
  ),
};

/** A client's TLS flags: TLS on, and a CA to trust besides the system's. */
export const TLS_CLIENT_FLAGS = {
  tls: extra(flag.onOff("tls", "connect with TLS, checking the server's certificate and name")),
  ca: extra(
    flag.file("ca", "with --tls, also trust this PEM CA certificate (a private or local CA)"),
  ),
};

/** `--unix PATH`: a Unix socket (`lib/extras/unix.ts`) instead of `--host` and `--port`. */
const UNIX: Flag<string | undefined> = extra({
  ...flag.file("unix", "a Unix socket's path, instead of --host and --port"),
  value: "PATH",
});

/** A client's Unix socket flag. */
export const UNIX_CLIENT_FLAGS = { unix: UNIX };

/** A server's Unix socket flags: the path, and who may connect (or send): its file's mode. */
export const UNIX_SERVER_FLAGS = {
  unix: UNIX,
  unixMode: {
    name: "unix-mode",
    value: "MODE",
    help: "with --unix, the socket file's mode, octal: who may connect (or send)",
    default: 0o600,
    parse(raw: string): number {
      if (!/^[0-7]{3}$/.test(raw)) {
        throw new RangeError(`must be 3 octal digits, such as 660, not "${raw}"`);
      }
      return parseInt(raw, 8);
    },
    show: (mode) => mode.toString(8).padStart(3, "0"),
  } satisfies Flag<number>,
};

/** `--workers N` (`lib/extras/workers.ts`): N threads sharing the port. */
export const WORKERS_FLAG: Flag<number> = extra(flag.whole(
  "workers",
  1,
  "serve with N threads sharing the port (Linux; needs --unstable-net, --allow-read)",
  { max: 256, value: "N" },
));
