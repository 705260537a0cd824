/**
 * A lesson's command line, and its failures, each in one line. Every lesson takes the same few
 * flags: `--host`, `-p/--port`, `--trace`, `-h/--help`, and the UDP client `--timeout`. What is
 * needed only when asked for, or when something fails, loads only then: `--help` and usage
 * errors (`help.ts`), the words for a failure (`explain.ts`), the trace (`extras/trace.ts`).
 * `server/flags.ts` builds the production server's flags on the same parts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type Action,
  Failure,
  hostPort,
  type Lesson,
  type LessonOptions,
  SocketFailure,
  usageError,
} from "./command.ts";

/**
 * Starts a lesson: its options, or `undefined` after printing `--help`. With `--trace`, each
 * socket call is shown from then on.
 */
export async function commandLine(args: string[], lesson: Lesson) {
  const { help, trace, ...options } = await readFlags(args, lesson);
  if (help) return void console.log((await import("./help.ts")).usage(lesson));
  if (trace) {
    const { loadExtra } = await import("./explain.ts");
    (await loadExtra("--trace", () => import("./extras/trace.ts"))).traceSocketCalls();
  }
  return options;
}

/** Reads a lesson's flags; a {@linkcode UsageError} says what is wrong with them. */
export async function readFlags(args: string[], lesson: Lesson): Promise<LessonOptions> {
  const [string, boolean] = ["string", "boolean"] as const;
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        help: { type: boolean, short: "h" },
        host: { type: string },
        port: { type: string, short: "p" },
        trace: { type: boolean },
        ...lesson.timeout ? { timeout: { type: string } } : {},
      },
    }));
  } catch (err) {
    return (await import("./help.ts")).readAgain(args, lesson, err as Error, readFlags);
  }
  const read = <T>(name: string, raw: unknown, fallback: T, parse: (s: string) => T) => {
    try {
      return raw === undefined ? fallback : parse(String(raw));
    } catch (err) {
      throw usageError(lesson, `--${name} ${(err as Error).message}`);
    }
  };
  return {
    host: read("host", values.host, lesson.host, (raw) => hostValue(raw, lesson.host)),
    port: read("port", values.port, lesson.port, wholeValue(lesson.serves ? 0 : 1, 65535)),
    ...lesson.timeout &&
      { timeout: read("timeout", values.timeout, lesson.timeout, secondsValue()) },
    trace: values.trace === true,
    help: values.help === true,
  };
}

/**
 * A host as given (`[::1]` taken as `::1`): a name, an IPv4 or an IPv6 address (with its
 * `%zone`, if any). Else a `RangeError` that says what a host looks like.
 */
export function hostValue(raw: string, fallback: string): string {
  const host = raw.replace(/^\[(.*)\]$/, "$1");
  if (host === "") throw new RangeError(`must not be empty (use ${fallback})`);
  if (host.includes(":") ? isIPv6(host.replace(/%[\w.-]+$/, "")) : NAME.test(host)) return host;
  const port = /^[^:]+:\d+$/.test(host) ? "; give the port with --port" : "";
  throw new RangeError(
    `must be a host name or an address, such as localhost or ::1, not "${raw}"${port}`,
  );
}

/** A host name: dot-separated labels of letters, digits, `-` and `_`, 253 characters at most. */
const NAME = /^(?=.{1,253}$)[\w-]{1,63}(\.[\w-]{1,63})*\.?$/;
const isIPv6 = (address: string) => URL.canParse(`http://[${address}]/`);

/** A reader of whole numbers from `min` to `max`, digits only ("0x10" and "1e3" are refused). */
export const wholeValue = (min: number, max: number) => (raw: string): number => {
  const value = /^\d{1,8}$/.test(raw) ? Number(raw) : NaN;
  if (value >= min && value <= max) return value;
  throw new RangeError(`must be a whole number from ${min} to ${max}, not "${raw}"`);
};

/** A reader of a number of seconds, or of another `unit`: above 0 (or 0 for `zero`), to `max`. */
export const secondsValue =
  ({ zero = "", max = 86400, unit = "seconds" } = {}) => (raw: string): number => {
    const value = /^\d{1,6}(\.\d{1,6})?$/.test(raw) ? Number(raw) : NaN;
    if ((zero ? value >= 0 : value > 0) && value <= max) return value;
    const range = zero ? `from 0 (${zero}) to ${max}` : `above 0 and at most ${max}`;
    throw new RangeError(`must be a number of ${unit.toLowerCase()} ${range}, not "${raw}"`);
  };

/**
 * Runs the socket call `call` on `where` (a host and port, or a Unix socket's path): a failure,
 * thrown or rejected, becomes a {@linkcode SocketFailure}.
 */
export function attempt<T>(
  action: Action,
  where: { hostname: string; port: number } | { path: string },
  call: () => T,
): T {
  const [host, shown] = "path" in where
    ? [where.path, `unix:${where.path}`]
    : [where.hostname, hostPort(where.hostname, where.port)];
  const failed = (err: unknown) =>
    err instanceof Error && !(err instanceof Failure)
      ? new SocketFailure(action, host, shown, err)
      : err;
  try {
    const result = call();
    return result instanceof Promise
      ? result.catch((err) => Promise.reject(failed(err))) as T
      : result;
  } catch (err) {
    throw failed(err);
  }
}

/** Prints `err` as one line and exits, 2 for a usage error, 1 for the rest (`explain.ts`). */
export async function fatal(err: unknown): Promise<never> {
  return (await import("./explain.ts")).fatal(err);
}
