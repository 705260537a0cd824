/**
 * Errors a user should see as one clear line, and {@linkcode fatal}, the one place that prints
 * them and picks the exit code: 2 for a usage error, 1 for anything else.
 *
 * @module
 */

/** A bad flag or value on the command line: `error: …`, a hint, exit code 2. */
export class UsageError extends Error {
  /** `hint` says where to look for help: `Run '… --help' for usage.` */
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** An expected failure (port in use, server not running, …): `error: …`, exit code 1. */
export class Failure extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Failure";
  }
}

/** What to say about the network errors a user can cause or fix, keyed by Deno's error name. */
const REASONS: Record<string, string> = {
  AddrInUse: "the port is already in use (is another server running? --port 0 picks a free one)",
  ConnectionRefused: "connection refused (is the server running?)",
  ConnectionReset: "the connection was reset",
  NotFound: "no such socket (is the server running?)",
  TimedOut: "timed out (is the host reachable?)",
};

/**
 * Turns a network error into a {@linkcode Failure} that says what we tried and why it failed:
 * `Cannot listen on 0.0.0.0:21567: the port is already in use (…)`. `hostname` is as the user
 * gave it, `where` as it is shown (`[::1]:21567`). Other errors come back unchanged.
 */
export function explainNetError(
  err: unknown,
  action: "listen on" | "connect to" | "send to" | "open a UDP socket on" | "open a socket on",
  hostname: string,
  where: string,
): unknown {
  if (!(err instanceof Error)) return err;
  const fail = (reason: string) =>
    new Failure(`Cannot ${action} ${where}: ${reason}`, { cause: err });
  const code = (err as { code?: string }).code;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /lookup address/.test(err.message)) {
    return fail(`unknown host "${hostname}"`);
  }
  if (hostname.includes(":") && (err.name === "AddrNotAvailable" || code === "EAFNOSUPPORT")) {
    return fail("IPv6 is not available on this machine");
  }
  if (err.name === "AddrNotAvailable" && action !== "connect to" && action !== "send to") {
    return fail(`"${hostname}" is not an address of this machine`);
  }
  if (err.name === "PermissionDenied" && action === "listen on") {
    return fail("permission denied (ports below 1024 need privileges; use a higher --port)");
  }
  if (code === "EMSGSIZE") {
    return fail("the line is too long for one UDP datagram (at most 65,507 bytes)");
  }
  // Name what Deno was not allowed to reach, and the narrowest flag that allows it.
  const denied = err instanceof Deno.errors.NotCapable
    ? /net access to "([^"]+)"/.exec(err.message)?.[1]
    : code === "EPERM"
    ? /^getaddrinfo EPERM (\S+)/.exec(err.message)?.[1]
    : undefined;
  if (denied) {
    return fail(
      `network access to ${denied} was not granted (run with --allow-net=${denied}, or -N)`,
    );
  }
  // A Unix socket's file also needs leave to read and write it.
  const file = /(read|write) access to "([^"]+)"/.exec(err.message);
  if (err instanceof Deno.errors.NotCapable && file) {
    return fail(
      `${file[1]} access to ${file[2]} was not granted (run with --allow-${file[1]}=${file[2]})`,
    );
  }
  if (err instanceof Deno.errors.NotCapable) {
    return fail("network access was not granted (run with -N)");
  }
  const reason = REASONS[err.name];
  return reason ? fail(reason) : err;
}

/**
 * Prints `err` and exits: `error: …` in red on stderr, then 2 for a usage error, 1 for the
 * rest. An unexpected error is a bug, so it keeps its stack trace for whoever reports it.
 *
 * @example Usage
 * ```ts ignore
 * Deno.exit(await main(Deno.args).catch(fatal));
 * ```
 */
export function fatal(err: unknown): never {
  // Whoever read our output has gone (`… | head`): nothing is wrong. (A socket's broken pipe
  // never gets here: clients report it as the server closing.)
  if (err instanceof Deno.errors.BrokenPipe) Deno.exit(0);
  if (err instanceof UsageError) {
    printError(err.message);
    console.error(err.hint);
    Deno.exit(2);
  }
  if (err instanceof Failure || err instanceof Deno.errors.NotCapable) {
    printError(err.message);
  } else {
    printError("unexpected failure, please report it with what follows:");
    console.error(err);
  }
  Deno.exit(1);
}

/** Prints `error: message`, with `error` in red where stderr is a colour terminal. */
export function printError(message: string): void {
  console.error(`%cerror%c: ${message}`, "color: red; font-weight: bold", "");
}
