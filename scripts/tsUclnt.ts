#!/usr/bin/env -S deno run -N --unstable-net
/**
 * UDP timestamp client, after the book's `tsUclnt.py`. Prompts `> `, sends each line (without
 * its newline) as one datagram, and prints the reply. It stops at an empty line or the end of
 * input.
 *
 * What differs from the book, and why:
 * - A datagram can be lost, and UDP never says so. The book's client would then wait forever;
 *   this one waits `--timeout` seconds (2 by default), says so, and exits 1.
 * - It only accepts replies from the server it sent to; other datagrams are ignored.
 * - A name with both IPv4 and IPv6 addresses (`localhost`, often) is reached over IPv4, as the
 *   book's `AF_INET` client does: UDP gives no sign of which one a server listens on.
 * - It receives up to 64 KiB, so it prints a long reply whole (the book's takes 1024 bytes).
 *
 * Deno's UDP API is still unstable, hence `--unstable-net`:
 *
 * ```sh
 * deno run -N --unstable-net scripts/tsUclnt.ts
 * printf 'hello\n' | deno run -N --unstable-net scripts/tsUclnt.ts --timeout 5
 * ```
 *
 * `--unix PATH` sends to a Unix datagram socket instead. A reply needs a path to come back to,
 * so the client binds one in a folder it makes under the temporary folder, and removes it after:
 *
 * ```sh
 * deno run -N --unstable-net --allow-read=/tmp --allow-write=/tmp scripts/tsUclnt.ts --unix /tmp/tsu.sock
 * ```
 *
 * @module
 */

import { attempt, explainNetError, Failure, fatal, hostPort, loadExtra } from "../lib/errors.ts";
import { type Command, extraFlags, flag, parseFlags } from "../lib/flags.ts";
import { printLine, promptLines, unlessStopped } from "../lib/io.ts";
import { sameAddress, udpAddressOf } from "../lib/net.ts";
import { trapStopSignals } from "../lib/shutdown.ts";

const HOST = "localhost";
const PORT = 21567;
const TIMEOUT = 2; // seconds to wait for each reply

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "tsUclnt.ts",
  about: "UDP timestamp client (the book's tsUclnt.py)",
  run: "-N --unstable-net",
  flags: {
    host: flag.host(HOST, "server to connect to"),
    port: flag.port(PORT, "server port"),
    timeout: flag.seconds("timeout", TIMEOUT, "how long to wait for each reply"),
    trace: extraFlags.trace, // --trace: each socket call, as it happens (an extra)
    ...extraFlags.unixClient, // --unix: to a Unix datagram socket (an extra) instead
  },
} satisfies Command;

/** The largest datagram there can be: the reply is read whole, unlike `recvfrom(BUFSIZ)`. */
const MAX_DATAGRAM = 65535;

/** Runs the client until an empty line, end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls();
  }
  using stop = trapStopSignals();

  if (options.unix !== undefined) {
    // socket(AF_UNIX, SOCK_DGRAM), an extra: a reply needs a path to come back to, so the
    // client binds one of its own, in a folder it makes, and removes both at the end.
    const unix = await loadExtra("--unix", () => import("../server/unix.ts"));
    await using client = await unix.unixDatagramClient();
    const server: Deno.Addr = { transport: "unixpacket", path: options.unix };
    return await converse(client.socket, server, `unix:${options.unix}`, options, stop.signal);
  }

  // socket(): UDP needs no connection, only a local socket of the server's address family.
  const hostname = await udpAddressOf(options.host, options.port);
  const server: Deno.NetAddr = { transport: "udp", hostname, port: options.port };
  const local = { hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 };
  const socket = attempt(
    "open a UDP socket on",
    local,
    () => Deno.listenDatagram({ ...local, transport: "udp" }),
  );
  try {
    const where = hostPort(options.host, options.port);
    return await converse(socket, server, where, options, stop.signal);
  } finally {
    socket.close(); // DatagramConn has no Symbol.dispose for `using`
  }
}

/** The communication loop: sendto() each line, recvfrom() its reply, print it. */
async function converse(
  socket: Deno.DatagramConn,
  server: Deno.Addr,
  where: string,
  { timeout }: { timeout: number },
  stopping: AbortSignal,
): Promise<number> {
  const buffer = new Uint8Array(MAX_DATAGRAM);
  for await (const line of promptLines(stopping)) {
    // sendto() the line, then recvfrom() until the server's reply, or the timeout, comes.
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
      // The reply: over UDP, what comes from the server; over AF_UNIX, what comes to our own
      // folder's socket (a server that moved to a new socket answers from that one's name).
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
