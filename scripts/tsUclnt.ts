#!/usr/bin/env -S deno run -N --unstable-net
/**
 * UDP timestamp client, after the book's `tsUclnt.py`. Prompts `> `, sends each line (without
 * its newline) as one datagram, and prints the reply. It stops at an empty line or the end of
 * input.
 *
 * What differs from the book, and why:
 * - A datagram can be lost, and UDP never says so. The book's client would then wait forever;
 *   this one waits `--timeout` seconds (2 by default), says so, and exits 1.
 * - It only takes replies from the server's port; other datagrams are ignored.
 * - A name with both IPv4 and IPv6 addresses (`localhost`, often) is reached over IPv4, as the
 *   book's `AF_INET` client does: UDP gives no sign of which one a server listens on.
 * - It receives up to 64 KiB, so it prints a long reply whole (the book's takes 1024 bytes).
 *
 * This is a lesson: for a Unix datagram socket, run `server/client.ts --proto udp --unix PATH`.
 * Deno's UDP API is still unstable, hence `--unstable-net`:
 *
 * ```sh
 * deno run -N --unstable-net scripts/tsUclnt.ts
 * printf 'hello\n' | deno run -N --unstable-net scripts/tsUclnt.ts --timeout 5
 * ```
 *
 * @module
 */

import { attempt, commandLine, fatal } from "../lib/cli.ts";
import { Failure, hostPort } from "../lib/command.ts";
import type { Lesson } from "../lib/command.ts";
import { printLine, promptLines } from "../lib/prompt.ts";

const HOST = "localhost";
const PORT = 21567;
const BUFSIZ = 65535; // the largest datagram there can be: a reply is read whole
const TIMEOUT = 2; // seconds to wait for each reply

/** This script's command line, and its defaults. */
export const COMMAND: Lesson = {
  script: "tsUclnt.ts",
  about: "UDP timestamp client (the book's tsUclnt.py)",
  run: "-N --unstable-net",
  host: HOST,
  port: PORT,
  timeout: TIMEOUT,
};

/** Runs the client until an empty line, the end of input or Ctrl-C; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = await commandLine(args, COMMAND);
  if (!options) return 0;
  const { timeout = TIMEOUT } = options;
  const where = { hostname: options.host, port: options.port };

  // gethostbyname(): the server's address, its IPv4 one if it has one (see above).
  const { lookup } = await import("node:dns/promises");
  const found = await attempt("send to", where, () => lookup(options.host, { all: true }));
  const { address: ip } = found.find(({ family }) => family === 4) ?? found[0];
  // Sent to 0.0.0.0 or ::, a datagram goes to this machine, and its reply comes from loopback.
  const hostname = ip === "0.0.0.0" ? "127.0.0.1" : ip === "::" ? "::1" : ip;
  const server: Deno.NetAddr = { transport: "udp", hostname, port: options.port };

  // socket(AF_INET, SOCK_DGRAM): no connection, only a socket of the server's family, on a free
  // port, for the replies to come back to.
  const local = { hostname: hostname.includes(":") ? "::" : "0.0.0.0", port: 0 };
  const udp = { ...local, transport: "udp" } as const;
  const socket = attempt("open a UDP socket on", local, () => Deno.listenDatagram(udp));

  // The communication loop: sendto() a line, recvfrom() its reply, print it.
  const data = new Uint8Array(BUFSIZ);
  for await (const line of promptLines()) {
    await attempt("send to", where, () => socket.send(line, server));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, timeout * 1000, null);
    });
    let reply: Uint8Array | undefined;
    while (!reply) {
      const received = await Promise.race([socket.receive(data), deadline]);
      if (received === null) throw noReply(hostPort(options.host, options.port), timeout);
      const [datagram, from] = received;
      // The server's port: a server on many addresses answers from the one the system picks.
      if ("port" in from && from.port === server.port) reply = datagram;
    }
    clearTimeout(timer);
    await printLine(reply);
  }
  socket.close();
  return 0;
}

/** No reply within the timeout: UDP cannot say whether a datagram or the server is missing. */
const noReply = (where: string, seconds: number) =>
  new Failure(
    `No reply from ${where} within ${seconds} s (is the server running? UDP cannot tell ` +
      "a lost datagram from a missing server)",
  );

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
