/**
 * What a command is, and how it fails: a script and how to run it, a lesson's defaults, and the
 * errors that end it in one line. What the lessons' other modules share, so that none of them
 * imports another that imports it back.
 *
 * @module
 */

/** A script: its file in `scripts/` (or a path from the root), and its `deno run` flags. */
export interface Runnable {
  script: string;
  run?: string; // `-N` unless said
}

/** A lesson's command line: what it is, and its defaults. */
export interface Lesson extends Runnable {
  about: string;
  serves?: true; // a server: `--host` is where it listens, and `--port 0` picks a free port
  host: string;
  port: number;
  timeout?: number; // a UDP client's seconds to wait for each reply
}

/** What a lesson's command line says: each flag's value, or its default. */
export type LessonOptions = {
  host: string;
  port: number;
  timeout?: number;
  trace: boolean;
  help: boolean;
};

/** An expected failure (port in use, server not running, …): `error: …`, exit code 1. */
export class Failure extends Error {
  override name = "Failure";
}

/** A bad flag or value on the command line: `error: …`, a hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** The command that runs a script from the repository's root. */
export function runCommand({ script, run = "-N" }: Runnable): string {
  return `deno run ${run} ${script.includes("/") ? script : `scripts/${script}`}`;
}

/** A usage error for `command`, with the hint that says where its `--help` is. */
export function usageError(command: Runnable, message: string): UsageError {
  return new UsageError(message, `Run '${runCommand(command)} --help' for usage.`);
}

/** `host:port`, with an IPv6 host in brackets and an IPv4-mapped one shown as plain IPv4. */
export function hostPort(hostname: string, port: number): string {
  const host = hostname.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address as `host:port` ({@linkcode hostPort}), or a Unix socket's `unix:path`. */
export function formatAddress(addr: Deno.Addr): string {
  if ("hostname" in addr) return hostPort(addr.hostname, addr.port);
  return "path" in addr ? `unix:${addr.path ?? ""}` : addr.transport; // a client's end: `unix:`
}

/** What a socket call was for, as an error line says it. */
export type Action = "listen on" | "connect to" | "send to" | `open a ${"UDP " | ""}socket on`;

/** A socket call's failure: what we tried, and where; `explain.ts` says why, in words. */
export class SocketFailure extends Failure {
  constructor(
    readonly action: Action,
    readonly host: string,
    readonly where: string,
    cause: Error,
  ) {
    super(`Cannot ${action} ${where}: ${cause.message}`, { cause });
  }
}
