#!/usr/bin/env -S deno run -N --unstable-net
/**
 * The timestamp client for production, one command for the three protocols of `server/tsd.ts`
 * (and of the book's servers): it sends each line it reads, and prints each reply whole,
 * however many stamped parts it comes in.
 * - `--proto tcp`: one connection for the whole conversation, each line sent as it is typed;
 * - `--proto ss`: a connection per line, sent with `\r\n` as the book's client does, and the
 *   reply printed without its line ending;
 * - `--proto udp`: a datagram per line, waiting `--timeout` seconds for each reply.
 *
 * TLS with `--tls` (the server's certificate is checked; `--ca` adds a CA to trust), a Unix
 * socket with `--unix PATH`. An empty line, end of input or Ctrl-C ends it.
 *
 * ```sh
 * deno run -N --unstable-net server/client.ts --proto ss -p 21567
 * deno run -N --allow-read=ca.pem server/client.ts --tls --ca ca.pem
 * ```
 *
 * @module
 */

import { attempt, fatal } from "../lib/cli.ts";
import { Failure, hostPort, usageError } from "../lib/command.ts";
import { explainNetError } from "../lib/explain.ts";
import { type Command, extraFlags, flag, type Options, parseFlags } from "./flags.ts";
import { concat, printLine, promptLines } from "../lib/prompt.ts";
import { trapStopSignals, unlessStopped } from "../lib/shutdown.ts";
import { sameAddress, udpAddressOf } from "./net.ts";
import { ReplyReader } from "./reply.ts";
import { SILENCE, SILENCE_MS } from "../lib/reply.ts";
import { protoFlag } from "./proto.ts";
import { clientTarget, connectStream } from "./transport.ts";
import { unixDatagramClient } from "./unix.ts";

/** This command's line. */
export const COMMAND = {
  script: "server/client.ts",
  about: "timestamp client for production: tcp, ss (a connection per line) or udp",
  run: "-N --unstable-net",
  flags: {
    proto: protoFlag(
      "tcp (one connection), ss (a connection per line) or udp (a datagram per line)",
    ),
    host: flag.host("localhost", "server to connect to"),
    port: flag.port(21567, "server port"),
    timeout: flag.seconds("timeout", 2, "udp: how long to wait for each reply"),
    trace: extraFlags.trace,
    ...extraFlags.tlsClient,
    ...extraFlags.unixClient,
  },
} satisfies Command;

type ClientOptions = Options<typeof COMMAND.flags>;

const CRLF = new TextEncoder().encode("\r\n");
/** The largest datagram there can be: a reply is read whole. */
const MAX_DATAGRAM = 65535;

/** Runs the client until an empty line, end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  if (options.proto === "udp" && options.tls) throw usageError(COMMAND, "--tls is for tcp or ss");
  if (options.proto !== "udp" && options.timeout !== 2) {
    throw usageError(COMMAND, "--timeout is for --proto udp");
  }
  if (options.trace) (await import("../lib/extras/trace.ts")).traceSocketCalls();
  using stop = trapStopSignals();
  if (options.proto === "udp") return await datagrams(options, stop.signal);
  const target = clientTarget(options, COMMAND);
  const connect = () => unlessStopped(connectStream(target), stop.signal);
  if (options.proto === "tcp") {
    using conn = await connect();
    if (conn === null) return 0;
    const server = new ReplyReader(conn);
    for await (const line of promptLines()) {
      const silence = setTimeout(() => console.error(SILENCE), SILENCE_MS); // said once, if so
      const reply = await unlessStopped(server.request(line), stop.signal);
      clearTimeout(silence);
      if (reply === null) break;
      await printLine(reply);
    }
    return 0;
  }
  for await (const line of promptLines()) {
    using conn = await connect();
    if (conn === null) break;
    const reply = await unlessStopped(
      new ReplyReader(conn).request(concat(line, CRLF)),
      stop.signal,
    );
    if (reply === null) break;
    await printLine(reply.subarray(0, reply.length - lineEnding(reply)));
  }
  return 0;
}

/** How many bytes of line ending (`\r\n` or `\n`) `reply` ends with. */
function lineEnding(reply: Uint8Array): number {
  if (reply.at(-1) !== 0x0a) return 0;
  return reply.at(-2) === 0x0d ? 2 : 1;
}

/** `--proto udp`: each line a datagram, over UDP or to a Unix datagram socket. */
async function datagrams(options: ClientOptions, stopping: AbortSignal): Promise<number> {
  if (options.unix !== undefined) {
    // A reply needs a path to come back to: one of our own, in a folder we make and remove.
    await using client = await unixDatagramClient();
    const server: Deno.Addr = { transport: "unixpacket", path: options.unix };
    return await converse(client.socket, server, `unix:${options.unix}`, options, stopping);
  }
  const hostname = await udpAddressOf(options.host, options.port);
  const server: Deno.NetAddr = { transport: "udp", hostname, port: options.port };
  const local = { hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 };
  const socket = attempt(
    "open a UDP socket on",
    local,
    () => Deno.listenDatagram({ ...local, transport: "udp" }),
  );
  try {
    return await converse(socket, server, hostPort(options.host, options.port), options, stopping);
  } finally {
    socket.close();
  }
}

/** sendto() each line, recvfrom() its reply (within `--timeout`), print it. */
async function converse(
  socket: Deno.DatagramConn,
  server: Deno.Addr,
  where: string,
  { timeout }: { timeout: number },
  stopping: AbortSignal,
): Promise<number> {
  const buffer = new Uint8Array(MAX_DATAGRAM);
  for await (const line of promptLines()) {
    try {
      await socket.send(line, server);
    } catch (err) {
      throw explainNetError(err, "send to", "hostname" in server ? server.hostname : where, where);
    }
    const waiting = AbortSignal.any([stopping, AbortSignal.timeout(timeout * 1000)]);
    let reply: Uint8Array | undefined;
    while (!reply) {
      const received = await unlessStopped(socket.receive(buffer), waiting);
      if (received === null) break;
      const [data, from] = received as [Uint8Array, Deno.Addr];
      // Over UDP, only what comes from the server; over AF_UNIX, our folder is our own, and a
      // server that moved to a new socket answers from that one's name (unix.ts).
      if ("path" in server || sameAddress(from, server)) reply = data;
    }
    if (stopping.aborted) break;
    if (!reply) {
      throw new Failure(
        `No reply from ${where} within ${timeout} s (` +
          ("path" in server
            ? "the server is there, but did not answer: may it write to our socket's folder?)"
            : "is the server running? UDP cannot tell a lost datagram from a missing server)"),
      );
    }
    await printLine(reply);
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
