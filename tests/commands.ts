/**
 * What a test runs: a lesson in `scripts/`, which keeps only `--host`, `--port`, `--trace` and
 * `--help` (and tsUclnt's `--timeout`), or the production pair, `server/tsd.ts` and
 * `server/client.ts`, which take every other flag and pick the lesson they stand for with
 * `--proto`. A test that both must pass is written once, over a small table of them, and its
 * name says which one runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Proto } from "../server/proto.ts";
import {
  denoArgs,
  type Proc,
  type Result,
  runScript,
  type Server,
  type SpawnOptions,
  spawnScript,
  startServer,
  type Transport,
  TRANSPORTS,
  unstamped,
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

/**
 * The book's sample session, over a stream or datagram transport: `theirs` sends each piped
 * line to `ours` and prints its reply, and stops at the empty line. Returns the server's log.
 */
export async function pipedSession(
  ours: Command,
  theirs: Command,
  transport: {
    server: SpawnOptions & { args: string[] };
    client: SpawnOptions & { args: string[] };
  },
): Promise<string> {
  await using server = await startCommand(
    ours,
    transport.server.args,
    "127.0.0.1",
    transport.server,
  );
  const port = server.port > 0 ? ["--port", String(server.port)] : []; // none over a Unix socket
  const client = await runCommand(
    theirs,
    [...port, ...transport.client.args],
    "hello\nwörld\n\nnot sent\n",
    transport.client,
  );
  assert.equal(client.code, 0, client.stderr);
  assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> [STAMP] wörld\n> ");
  assert.equal(client.stderr, "");
  return (await server.stop()).stdout;
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

/** Starts `tsd --proto proto`, as {@linkcode startCommand} does any command. */
export function startTsd(
  proto: Proto,
  args: string[] = [],
  host = "127.0.0.1",
  options: SpawnOptions = {},
): Promise<Server> {
  return startCommand(tsd(proto), args, host, options);
}

/** Runs `client.ts --proto proto` to the end, as {@linkcode runCommand} does any command. */
export function runClient(
  proto: Proto,
  args: string[] = [],
  input?: string | Uint8Array,
  options: SpawnOptions = {},
): Promise<Result> {
  return runCommand(client(proto), args, input, options);
}

/** A server a stream test runs against, and how it is reached: see {@linkcode serverSetups}. */
export interface ServerSetup {
  /** What it runs, for the test's name: `tls: tsd --proto tcp`, or `tcp: tsTserv.ts`. */
  name: string;
  transport: Transport;
  /** `-q` for tsd; nothing for a lesson, which has no such flag and logs every connection. */
  quiet: string[];
  /** Starts it on a free port of `host`, with `args` after its transport's flags. */
  start(args?: string[], host?: string): Promise<Server>;
}

/**
 * The servers a stream test of `proto` runs against: tsd over every transport, and, when
 * given, the lesson that `proto` comes from on plain TCP, the one transport a lesson has.
 */
export function serverSetups(proto: "tcp" | "ss", lessonScript?: string): ServerSetup[] {
  const production = TRANSPORTS.map((transport): ServerSetup => ({
    name: `${transport.name}: tsd --proto ${proto}`,
    transport,
    quiet: ["-q"],
    start: (args = [], host) =>
      startTsd(proto, [...transport.server.args, ...args], host, transport.server),
  }));
  if (lessonScript === undefined) return production;
  const plain: ServerSetup = {
    name: `tcp: ${lessonScript}`,
    transport: TRANSPORTS[0],
    quiet: [],
    start: (args = [], host) => startCommand(lesson(lessonScript), args, host),
  };
  return [plain, ...production];
}
