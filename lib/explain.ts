/**
 * Failures, in words a user can act on: `Cannot listen on 0.0.0.0:21567: the port is already in
 * use (…)`, printed as one line by {@linkcode fatal}. The lessons load this only when something
 * failed; the production server, where it phrases what it logs.
 *
 * @module
 */

import { type Action, Failure, SocketFailure, UsageError } from "./command.ts";

/** What to say of the errors a user can cause or fix, by Deno's error name or the system's code. */
const REASONS: Record<string, string> = {
  AddrInUse: "the port is already in use (is another server running? --port 0 picks a free one)",
  ConnectionRefused: "connection refused (is the server running?)",
  ConnectionReset: "the connection was reset",
  NotFound: "no such socket (is the server running?)",
  TimedOut: "timed out (is the host reachable?)",
  NetworkUnreachable: "the network is unreachable from here",
  EHOSTUNREACH: "no route to that host from here",
  EMSGSIZE: "the line is too long for one UDP datagram (at most 65,507 bytes)",
};

/**
 * Turns a network error into a {@linkcode Failure} that says what we tried and why it failed:
 * `Cannot listen on 0.0.0.0:21567: the port is already in use (…)`. `hostname` is as the user
 * gave it, `where` as it is shown (`[::1]:21567`). Other errors come back unchanged.
 */
export function explainNetError(err: unknown, action: Action, hostname: string, where: string) {
  if (!(err instanceof Error) || err instanceof Failure) return err;
  const fail = (reason: string) =>
    new Failure(`Cannot ${action} ${where}: ${reason}`, { cause: err });
  const code = (err as { code?: string }).code;
  const { name, message } = err;
  if (err instanceof TypeError && /listenDatagram is not a function/.test(message)) {
    const what = where.startsWith("unix:") ? "Unix datagrams need" : "UDP needs";
    return new Failure(`${what} Deno's --unstable-net flag: deno run -N --unstable-net …`);
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || /lookup address/.test(message)) {
    return fail(`unknown host "${hostname}"`);
  }
  if (err instanceof URIError && /invalid host/.test(message)) {
    const port = /^[^:]*:\d+$/.test(hostname) ? "; give the port with --port" : "";
    return fail(`"${hostname}" is not a host name or an address${port}`);
  }
  if (hostname.includes(":") && (name === "AddrNotAvailable" || code === "EAFNOSUPPORT")) {
    return fail("IPv6 is not available on this machine");
  }
  if (name === "AddrNotAvailable" && action !== "connect to" && action !== "send to") {
    return fail(`"${hostname}" is not an address of this machine`);
  }
  if (name === "PermissionDenied" && action === "listen on") {
    return fail("permission denied (ports below 1024 need privileges; use a higher --port)");
  }
  // Name what Deno was not allowed to reach, and the narrowest flag that allows it; a Unix
  // socket's file needs leave to read and write it, too.
  const capable = err instanceof Deno.errors.NotCapable;
  const net = capable
    ? /net access to "([^"]+)"/.exec(message)?.[1]
    : code === "EPERM"
    ? /^getaddrinfo EPERM (\S+)/.exec(message)?.[1]
    : undefined;
  if (net) {
    return fail(`network access to ${net} was not granted (run with --allow-net=${net}, or -N)`);
  }
  const file = /(read|write) access to "([^"]+)"/.exec(message);
  if (capable && file) {
    return fail(
      `${file[1]} access to ${file[2]} was not granted (run with --allow-${file[1]}=${file[2]})`,
    );
  }
  if (capable) return fail("network access was not granted (run with -N)");
  const reason = REASONS[code ?? ""] ?? REASONS[name] ??
    (/No route to host/.test(message) ? REASONS.EHOSTUNREACH : undefined);
  return reason ? fail(reason) : err;
}

/**
 * `err` in words: a {@linkcode SocketFailure}, a missing permission, or a client's connection
 * reset by its server, explained; any other error as it is.
 */
export function explained(err: unknown): unknown {
  if (err instanceof SocketFailure) {
    // A socket call's failure is the user's to fix, or the network's, never a bug: one line,
    // in the system's words where there are none of ours.
    const why = explainNetError(err.cause, err.action, err.host, err.where);
    if (why instanceof Failure) return why;
    return new Failure(err.message.replace(/ \(os error \d+\)$/, ""), { cause: err.cause });
  }
  if (err instanceof Deno.errors.ConnectionReset) {
    return new Failure("The server reset the connection", { cause: err });
  }
  return err instanceof Deno.errors.NotCapable ? new Failure(err.message, { cause: err }) : err;
}

/**
 * Loads an optional part (`lib/extras/`, `server/`) for the flag `asked`. `load` is a literal
 * `() => import("…")`, which Deno counts in the script's graph; a copy without it says so.
 */
export async function loadExtra<T>(asked: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const missing = /Module not found "(.*\/(lib\/extras|server)\/[^"]*)"/.exec(`${err}`);
    if (!missing) throw err;
    const file = new URL(missing[1]).pathname;
    throw new Failure(`${asked} needs ${file}, which this copy lacks (copy ${missing[2]}/ too)`);
  }
}

/**
 * Prints `err` and exits: `error: …` in red on stderr, then 2 for a usage error, 1 for the
 * rest. An unexpected error is a bug, so it keeps its stack trace for whoever reports it.
 */
export function fatal(err: unknown): never {
  // Whoever read our output has gone (`… | head`): nothing is wrong.
  if (err instanceof Deno.errors.BrokenPipe) Deno.exit(0);
  if (err instanceof UsageError) {
    printError(err.message);
    if (err.hint) console.error(err.hint);
    Deno.exit(2);
  }
  err = explained(err);
  if (err instanceof Failure) printError(err.message);
  else {
    printError("unexpected failure, please report it with what follows:");
    console.error(err);
  }
  Deno.exit(1);
}

/** Prints `error: message`, with `error` in red where stderr is a colour terminal. */
export function printError(message: string): void {
  console.error(`%cerror%c: ${message}`, "color: red; font-weight: bold", "");
}
