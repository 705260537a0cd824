/**
 * What a test runs: a lesson in `scripts/`, which keeps only `--host`, `--port`, `--trace` and
 * `--help` (and tsUclnt's `--timeout`), or the production pair, `server/tsd.ts` and
 * `server/client.ts`, which take every other flag and pick the lesson they stand for with
 * `--proto`. A test that both must pass is written once, over a small table of them, and its
 * name says which one runs.
 *
 * @module
 */

import {
  denoArgs,
  type Proc,
  type Result,
  runScript,
  type Server,
  type SpawnOptions,
  spawnScript,
  startServer,
} from "./helpers.ts";

/** A script, with the arguments that make it one protocol's server or client. */
export interface Command {
  /** The script's file name, as `startServer()` and `runScript()` take it. */
  script: string;
  /** What picks the protocol: `--proto` for tsd.ts and client.ts, nothing for a lesson. */
  args: string[];
  /** How a test's name says it. */
  name: string;
  /** A lesson, which takes no production flag (TLS, Unix sockets, `--workers`, `-q`, …). */
  lesson: boolean;
}

/** One of the book's three protocols, as `--proto` names it. */
export type Proto = "tcp" | "ss" | "udp";

/** A lesson, by its file name. */
export function lesson(script: string): Command {
  return { script, args: [], name: script.replace(/\.ts$/, ""), lesson: true };
}

/** The production server, speaking `proto`. */
export function tsd(proto: Proto): Command {
  return {
    script: "tsd.ts",
    args: ["--proto", proto],
    name: `tsd --proto ${proto}`,
    lesson: false,
  };
}

/** The production client, speaking `proto`. */
export function client(proto: Proto): Command {
  return {
    script: "client.ts",
    args: ["--proto", proto],
    name: `client.ts --proto ${proto}`,
    lesson: false,
  };
}

/** A server and the client that talks to it. */
export interface Pair {
  server: Command;
  client: Command;
}

/** Each protocol's pairs: the lessons' first, then tsd and client.ts. */
export const PAIRS: Record<Proto, Pair[]> = {
  tcp: [
    { server: lesson("tsTserv.ts"), client: lesson("tsTclnt.ts") },
    { server: tsd("tcp"), client: client("tcp") },
  ],
  ss: [
    { server: lesson("tsTservSS.ts"), client: lesson("tsTclntSS.ts") },
    { server: tsd("ss"), client: client("ss") },
  ],
  udp: [
    { server: lesson("tsUserv.ts"), client: lesson("tsUclnt.ts") },
    { server: lesson("tsUservSS.ts"), client: lesson("tsUclnt.ts") },
    { server: tsd("udp"), client: client("udp") },
  ],
};

/**
 * Whether `command` runs over the transport named `transport`: a lesson only over plain TCP or
 * UDP, since TLS and Unix sockets take flags that only tsd and client.ts have.
 */
export function runsOver(command: Command, transport: { name: string }): boolean {
  return !command.lesson || transport.name === "tcp" || transport.name === "udp";
}

/**
 * Flags that only production takes (`-q`, `--bufsiz` and the like): `args` for tsd or
 * client.ts, and nothing for a lesson, which has lost them.
 */
export function production(command: Command, ...args: string[]): string[] {
  return command.lesson ? [] : args;
}

/** Starts `command` as a server, as `startServer()` does a script. */
export function startCommand(
  command: Command,
  args: string[] = [],
  host = "127.0.0.1",
  options: SpawnOptions = {},
): Promise<Server> {
  return startServer(command.script, [...command.args, ...args], host, options);
}

/** Runs `command` to the end, with `input` on standard input, as `runScript()` does a script. */
export function runCommand(
  command: Command,
  args: string[] = [],
  input?: string | Uint8Array,
  options: SpawnOptions = {},
): Promise<Result> {
  return runScript(command.script, [...command.args, ...args], input, options);
}

/** Starts `command`, as `spawnScript()` does a script. */
export function spawnCommand(
  command: Command,
  args: string[] = [],
  options: SpawnOptions = {},
): Proc {
  return spawnScript(command.script, [...command.args, ...args], options);
}

/** The arguments of `deno run` for `command`, as `denoArgs()` gives a script's. */
export function commandArgs(command: Command, args: string[] = []): string[] {
  return denoArgs(command.script, [...command.args, ...args]);
}
