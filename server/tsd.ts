#!/usr/bin/env -S deno run -N --no-prompt --unstable-net
/**
 * tsd: the timestamp server for production, one command for the book's three protocols. Each
 * reply is `[` + the time as `time.ctime()` writes it + `] ` + the bytes it answers:
 * - `--proto tcp` (tsTserv's): a conversation per connection, every read stamped;
 * - `--proto ss` (tsTservSS's): one line per connection, stamped with its line ending;
 * - `--proto udp` (tsUserv's): a datagram each, cut to `--bufsiz`.
 *
 * On top of the lessons in `scripts/`, it has what a deployment needs: TLS, Unix sockets,
 * `--workers`, the PROXY protocol behind a balancer, idle timeouts, a cap on clients, line
 * limits, and a log that a flood cannot fill. `--help` lists them all.
 *
 * ```sh
 * deno run -N --no-prompt --unstable-net server/tsd.ts                # tcp, port 21567
 * deno run -N --no-prompt --unstable-net server/tsd.ts --proto ss -p 0
 * deno run -N --unstable-net server/client.ts --proto ss              # in another terminal
 * ```
 *
 * @module
 */

import { isPeerGone, MAX_CONNS, type Session, whenStopped } from "./connections.ts";
import { Replies } from "./datagrams.ts";
import { attempt, fatal } from "../lib/cli.ts";
import { formatAddress, usageError } from "../lib/command.ts";
import { loadExtra } from "../lib/explain.ts";
import {
  type Command,
  extraAsked,
  extraFlags,
  type Flag,
  flag,
  type Options,
  parseFlags,
} from "./flags.ts";
import { formatPeer, waitingLine } from "./net.ts";
import type { StreamAddress } from "./addresses.ts";
import type { Console } from "./socket_server.ts";
import { StreamRequestHandler, StreamServer } from "./socket_server.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { STAMP_LENGTH, stampReply } from "../lib/timestamp.ts";
import { ReplyBuffer } from "./reply_buffer.ts";
import { type Proto, protoFlag } from "./proto.ts";
import { serve } from "./serve.ts";
import { WORKER } from "./workers.ts";
import { flushLog, LOG_CONSOLE } from "./log.ts";
import { collectWhenGrown } from "./heap.ts";

const MAX_DATAGRAM = 65_507; // the most a UDP datagram over IPv4 can carry

/** This command's line: every flag of the three servers, with the lessons' defaults. */
export const COMMAND = {
  script: "server/tsd.ts",
  about: "timestamp server for production: tcp, ss (a line per connection) or udp",
  run: "-N --no-prompt --unstable-net",
  flags: {
    proto: protoFlag(
      "tcp (every read stamped), ss (a line per connection) or udp (a datagram each)",
    ),
    host: flag.host("0.0.0.0", "address to listen on"),
    port: flag.port(21567, "port to listen on, 0 for any free one", 0),
    bufsiz: flag.whole("bufsiz", 1024, "most bytes read at a time (udp: of a datagram)", {
      max: 1 << 20,
    }),
    idleTimeout: flag.seconds("idle-timeout", 300, "close a connection idle this long", {
      zero: "never",
    }),
    maxConns: flag.whole(
      "max-conns",
      MAX_CONNS,
      "most clients at once; beyond, the address holding the most gives way to others",
      { max: 1_000_000, value: "N" },
    ),
    maxLine: flag.whole("max-line", 64 * 1024, "ss: close a connection whose line is longer", {
      max: 16 << 20,
    }),
    lineTimeout: flag.seconds(
      "line-timeout",
      30,
      "ss: close a connection whose line takes longer",
      {
        zero: "never",
      },
    ),
    lineBudget: flag.whole(
      "line-budget",
      64,
      "ss: most MiB all unfinished lines may hold; beyond, close the connection holding the most",
      { max: 65536, value: "MIB" },
    ),
    quiet: flag.quiet(),
    trace: extraFlags.trace,
    ...extraFlags.tlsServer,
    ...extraFlags.unixServer,
    ...extraFlags.proxy,
    workers: extraFlags.workers,
  },
} satisfies Command;

type TsdOptions = Options<typeof COMMAND.flags>;

/** The flags that only some of the protocols take. */
const ONLY: Partial<Record<keyof TsdOptions, Proto[]>> = {
  idleTimeout: ["tcp", "ss"],
  maxConns: ["tcp", "ss"],
  maxLine: ["ss"],
  lineTimeout: ["ss"],
  lineBudget: ["ss"],
  tlsCert: ["tcp", "ss"],
  tlsKey: ["tcp", "ss"],
  handshakeTimeout: ["tcp", "ss"],
  proxyProtocol: ["tcp", "ss"],
  proxyFrom: ["tcp", "ss"],
  workers: ["tcp", "ss"],
};

/** Runs the server until Ctrl-C or SIGTERM; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  for (const [key, protos] of Object.entries(ONLY) as [keyof TsdOptions, Proto[]][]) {
    const { name, default: fallback } = COMMAND.flags[key] as Flag<unknown>;
    if (options[key] !== fallback && !protos.includes(options.proto)) {
      throw usageError(COMMAND, `--${name} is for --proto ${protos.join(" or ")}`);
    }
  }
  if (options.proto === "udp" && options.bufsiz > MAX_DATAGRAM - STAMP_LENGTH) {
    throw usageError(COMMAND, `--bufsiz for --proto udp is at most ${MAX_DATAGRAM - STAMP_LENGTH}`);
  }
  // --workers N: this thread only starts N servers, each in a thread of its own, on one port.
  const workers = options.workers > 1 ? await import("./workers.ts") : undefined;
  // The log never waits for its reader (log.ts); a worker's lines say which worker it is.
  const out: Console = WORKER?.console ?? LOG_CONSOLE;
  if (options.trace) {
    // The trace writes as it goes (its last line comes as the process exits): console's
    // own writes, not the log's, which may still hold lines then; a worker's says which it is.
    const trace = await loadExtra("--trace", () => import("../lib/extras/trace.ts"));
    trace.traceSocketCalls(WORKER?.console ?? console);
  }
  if (workers && !WORKER) {
    // The flags' files checked, and their warnings said, once: not by each worker.
    const transport = await import("./transport.ts");
    transport.serverAddress(options, COMMAND);
    transport.flagWarnings(options).forEach((line) => console.error(line));
    return await workers.runWorkers(options, COMMAND);
  }
  // Trap Ctrl-C before saying we are up, so that from then on it always stops us cleanly.
  using stop = WORKER?.stopTrap() ?? trapStopSignals();
  const { signal } = stop;
  using _heap = collectWhenGrown(); // the garbage a burst leaves goes back to the system
  if (options.proto === "udp") await serveDatagrams(options, signal, out);
  else if (options.proto === "tcp") await serveStamps(options, signal, out);
  else await serveLines(options, signal, out);
  out.log(`server stopped (${signal.reason})`);
  await flushLog();
  return 0;
}

/** tsTserv's server: every read of up to `--bufsiz` bytes is answered, stamped. */
async function serveStamps(options: TsdOptions, signal: AbortSignal, out: Console) {
  const log = options.quiet ? undefined : (line: string) => out.log(line);
  // TLS, a Unix socket, a balancer's header, a worker's shared port: the transport chooser's,
  // loaded only when asked; plain TCP is Deno.listen alone.
  const transport = extraAsked(COMMAND, options) ? await import("./transport.ts") : undefined;
  const extra = await transport?.listenFor(options, COMMAND, WORKER, out.error);
  const address = { hostname: options.host, port: options.port };
  const listener = extra?.listener ?? attempt("listen on", address, () => Deno.listen(address));
  whenStopped(signal, () => listener.close()); // serve() returns once its connections are done
  if (!WORKER) transport?.flagWarnings(options).forEach((line) => out.error(line));
  out.log(waitingLine(listener.addr, extra?.tls));
  WORKER?.up();
  await serve(listener, (client) => stampEachRead(client, options.bufsiz, log), {
    idleTimeoutMs: options.idleTimeout * 1000,
    handshake: extra?.handshake(log),
    maxConns: options.maxConns,
    log,
    warn: (line) => out.error(line),
  });
}

/** One client of `serveStamps()`: read, answer stamped, until it is done or the server ends it. */
async function stampEachRead(client: Session, bufsiz: number, log?: (line: string) => void) {
  client.conn.setNoDelay?.(true); // each reply is one write: Nagle's algorithm would only delay it
  const reply = new ReplyBuffer(bufsiz); // the bytes are read in just after room for the stamp
  try {
    let n: number | null;
    while ((n = await client.read(reply.data)) !== null) await client.write(reply.stamped(n));
  } catch (err) {
    if (!isPeerGone(err)) throw err;
    const why = client.endedFor
      ? `cut off: ${client.endedFor}`
      : `went away: ${(err as Error).message}`;
    log?.(`...${client.address} ${why}`);
  }
}

/** tsTservSS's handler: one line per connection, answered stamped with its line ending. */
class StampLine extends StreamRequestHandler {
  override async handle(): Promise<void> {
    this.server.log?.(`...connected from: ${formatPeer(this.request)}`);
    const line = await this.rfile.readline();
    const reply = stampReply(line);
    try {
      await this.write(reply);
    } finally {
      // Freed now, not by a GC that an idle server may never run: a line of up to --max-line
      // from each of many clients would stay in malloc's heap (--line-budget, README).
      for (const bytes of [line, reply]) (bytes.buffer as ArrayBuffer).transfer(0);
    }
  }
}

/** tsTservSS's server, with its line limits: `StreamServer` and a handler per connection. */
async function serveLines(options: TsdOptions, signal: AbortSignal, out: Console) {
  const transport = extraAsked(COMMAND, options) ? await import("./transport.ts") : undefined;
  const address: StreamAddress = transport?.serverAddress(options, COMMAND, WORKER) ??
    { hostname: options.host, port: options.port };
  const server = await StreamServer.listen({
    address,
    bufsiz: options.bufsiz,
    maxLine: options.maxLine,
    lineTimeoutMs: options.lineTimeout * 1000,
    idleTimeoutMs: options.idleTimeout * 1000,
    maxConns: options.maxConns,
    lineBudget: options.lineBudget * (1 << 20),
    quiet: options.quiet,
    console: out,
  }, StampLine);
  if (!WORKER) transport?.flagWarnings(options).forEach((line) => out.error(line));
  out.log(waitingLine(server.address, "tls" in address && address.tls !== undefined));
  WORKER?.up();
  await server.serveForever(signal); // until the stop closes the listener
  await server.shutdown();
}

/** tsUserv's server: each datagram answered stamped, over UDP or a Unix datagram socket. */
async function serveDatagrams(options: TsdOptions, signal: AbortSignal, out: Console) {
  const log = options.quiet ? undefined : (line: string) => out.log(line);
  const address = { hostname: options.host, port: options.port };
  const socket = options.unix === undefined
    ? attempt("listen on", address, () => Deno.listenDatagram({ ...address, transport: "udp" }))
    : await (await import("./unix.ts")).listenUnixDatagram(options.unix, options.unixMode);
  out.log(waitingLine(socket.addr));
  // Over AF_UNIX, a sender that never reads its replies has them dropped, and the socket may
  // be replaced by a new one at the same path (lib/datagrams.ts, server/unix.ts).
  const replies = new Replies(socket, signal, (line) => out.error(line));
  const reply = new ReplyBuffer(options.bufsiz); // each datagram received just after the stamp
  try {
    while (!signal.aborted) {
      let data: Uint8Array;
      let client: Deno.Addr;
      try {
        [data, client] = await replies.receive(reply.data);
      } catch (err) {
        if (replies.ended(err)) break;
        continue;
      }
      if (signal.aborted) break; // the stop closed the socket just as this came
      replies.begin(); // a stop lets this reply go out before it closes the socket
      try {
        const stamped = reply.stamped(data.length);
        if (await replies.send(client, (socket) => socket.send(stamped, client))) {
          log?.(`...received from and returned to: ${formatAddress(client)}`);
        }
      } catch (err) {
        replies.unanswered(err, client); // one sender we cannot answer, not the rest
      } finally {
        replies.end();
      }
    }
  } finally {
    await replies.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
