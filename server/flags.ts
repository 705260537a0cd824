/**
 * The production commands' flags. A command lists its flags, with its defaults, in a
 * {@linkcode Command}; {@linkcode parseFlags} reads them (`node:util` `parseArgs`, strict), and
 * `--help` is written from the same list. The values are read by the lessons' own rules
 * (`lib/cli.ts`): a host, a port, a number of seconds mean the same in both layers. Only the
 * commands (`tsd.ts`, `client.ts`) and the load generator read flags; no transport module
 * imports this file.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { hostValue, secondsValue, wholeValue } from "../lib/cli.ts";
import { type Runnable, UsageError, usageError } from "../lib/command.ts";
import { helpText, negativesAsValues, TRACE_HELP } from "../lib/help.ts";

/** One flag: how it is written, what `--help` says of it, and how its value is read. */
export interface Flag<T> {
  name: string; // without `--`: `idle-timeout`
  short?: string; // a one-letter alias, without `-`
  value?: string; // its placeholder in `--help` (`SECONDS`); none: an on/off switch
  help: string; // `--help` adds the default
  default: T;
  parse: (raw: string) => T; // throws a `RangeError` that says what is wrong with `raw`
  show?(value: T): string; // the default, as `--help` writes it (`String` if not said)
  extra?: true; // asks for another transport than plain TCP: see extraAsked()
}

/** A command line: its file, one line on what it does, how to run it, its flags. */
export interface Command<F extends Flags = Flags> extends Runnable {
  about: string;
  flags: F;
}

// deno-lint-ignore no-explicit-any
export type Flags = Record<string, Flag<any>>;

/** What {@linkcode parseFlags} returns: each flag's value, under the flag's key. */
export type Options<F extends Flags> = { [K in keyof F]: ReturnType<F[K]["parse"]> };

/** The `--help` text of a command. */
export function usage(command: Command): string {
  const flags = [HELP, ...Object.values(command.flags)];
  return helpText(
    command,
    flags.map((flag) => {
      const { short, name, value } = flag;
      const shown = flag.default !== undefined &&
        (flag.show?.(flag.default) ?? String(flag.default));
      return [
        `${short ? `-${short}, ` : "    "}--${name}${value ? ` ${value}` : ""}`,
        `${flag.help}${value && shown ? ` (default: ${shown})` : ""}`,
      ];
    }),
  );
}

/**
 * Reads a command's arguments: the options, or `undefined` after printing `--help`.
 *
 * @throws {UsageError} For an unknown flag, a stray argument or a bad value.
 */
export function parseFlags<F extends Flags>(args: string[], command: Command<F>) {
  const { hint } = usageError(command, "");
  const flags = [HELP, ...Object.values(command.flags)];
  const types = Object.fromEntries(flags.map(({ name, value, short }) => {
    return [name, { type: value ? "string" as const : "boolean" as const, ...short && { short } }];
  }));
  const valued = new Map<string, string>(); // how a flag that takes a value may be written
  for (const { name, short } of flags.filter((f) => f.value)) {
    valued.set(`--${name}`, `--${name}`);
    if (short) valued.set(`-${short}`, `--${name}`);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: negativesAsValues(args, valued), strict: true, options: types })
      .values;
  } catch (err) {
    // parseArgs explains itself well; its first line is the part worth showing.
    throw new UsageError(String((err as Error).message).split("\n")[0], hint);
  }
  if (values.help) return void console.log(usage(command));
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

/** The first flag given that asks for another transport (`"--tls-cert"`); none for plain TCP. */
export function extraAsked<F extends Flags>(command: Command<F>, options: Options<F>) {
  const given = Object.entries(command.flags).find(([k, f]) => f.extra && options[k] !== f.default);
  return given && `--${given[1].name}`;
}

/** How a number flag is bounded and written: `value` is its placeholder, `zero` what 0 means. */
type Shape = { min?: number; max?: number; short?: string; value?: string; zero?: string };

/** The kinds of flag the commands share, each made with the command's own default. */
export const flag = {
  /** `--host`: where a server listens, or the server a client goes to. `[::1]` is taken too. */
  host: (fallback: string, help: string): Flag<string> => ({
    name: "host",
    value: "HOST",
    help,
    default: fallback,
    parse: (raw) => hostValue(raw, fallback),
  }),

  /** `-p, --port`; `min` 0 for a server, where 0 picks any free port. */
  port: (fallback: number, help: string, min = 1): Flag<number> =>
    flag.whole("port", fallback, help, { min, max: 65535, short: "p", value: "PORT" }),

  /** A whole number, of bytes unless `value` says: digits only ("0x10" and "1e3" are refused). */
  whole: (name: string, fallback: number, help: string, shape: Shape = {}): Flag<number> => ({
    name,
    short: shape.short,
    value: shape.value ?? "BYTES",
    help,
    default: fallback,
    parse: wholeValue(shape.min ?? 1, shape.max ?? 1 << 30),
  }),

  /** A number of seconds (a day at most, unless `max` says), or of the unit `value` names. */
  seconds: (name: string, fallback: number, help: string, shape: Shape = {}): Flag<number> => ({
    ...flag.whole(name, fallback, shape.zero ? `${help}, 0 for ${shape.zero}` : help, shape),
    value: shape.value ?? "SECONDS",
    parse: secondsValue({ zero: shape.zero, max: shape.max, unit: shape.value }),
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

/** `made`, marked as a flag that asks for another transport. */
const extra = <T>(made: Flag<T>): Flag<T> => ({ ...made, extra: true });

const UNIX = extra({
  ...flag.file("unix", "a Unix socket's path, instead of --host and --port"),
  value: "PATH",
});
const UNIX_MODE = {
  ...flag.whole(
    "unix-mode",
    0o600,
    "with --unix, the socket file's mode, octal: who may connect (or send)",
  ),
  value: "MODE",
  parse(raw: string): number {
    if (/^[0-7]{3}$/.test(raw)) return parseInt(raw, 8);
    throw new RangeError(`must be 3 octal digits, such as 660, not "${raw}"`);
  },
  show: (mode: number) => mode.toString(8).padStart(3, "0"),
};

/** The production flags, for a command's `COMMAND`. */
export const extraFlags = {
  /** A server's TLS: a certificate and key, both or neither, and a handshake's deadline. */
  tlsServer: {
    tlsCert: extra(flag.file("tls-cert", "serve TLS, with this PEM certificate (chain)")),
    tlsKey: extra(flag.file("tls-key", "and this PEM private key")),
    handshakeTimeout: flag.seconds(
      "handshake-timeout",
      10,
      "close a TLS connection not set up by then",
    ),
  },
  /** A client's TLS: on, and a CA to trust besides the system's. */
  tlsClient: {
    tls: extra(flag.onOff("tls", "connect with TLS, checking the server's certificate and name")),
    ca: extra(
      flag.file(
        "ca",
        "with --tls, also trust this PEM CA certificate (a private or local CA)",
      ),
    ),
  },
  /** A client's Unix socket: its path, instead of a host and port. */
  unixClient: { unix: UNIX },
  /** A server's Unix socket: its path, and its file's mode (who may connect, or send). */
  unixServer: { unix: UNIX, unixMode: UNIX_MODE },
  /** A stream server behind a load balancer: `--proxy-protocol`, and whom to take it from. */
  proxy: {
    proxyProtocol: extra(flag.onOff(
      "proxy-protocol",
      "each connection starts with a PROXY protocol header (v1 or v2): the client's address",
    )),
    proxyFrom: extra({
      ...flag.file(
        "proxy-from",
        "with --proxy-protocol, the balancers to trust: addresses, CIDRs (default: 127.0.0.0/8,::1)",
      ),
      value: "LIST",
    }),
  },
  /** `--trace` (lib/extras/trace.ts). Not marked `extra()`: it asks for no other transport. */
  trace: flag.onOff("trace", TRACE_HELP),
  /** `--workers N`: N threads sharing the port. */
  workers: extra(flag.whole(
    "workers",
    1,
    "serve with N threads sharing the port (Linux; needs --unstable-net, --allow-read)",
    { max: 256, value: "N" },
  )),
};
