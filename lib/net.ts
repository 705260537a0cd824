/**
 * What the servers and clients share around Deno's socket calls (which they make themselves):
 * showing an address, the accept loop's rules, telling a peer that went away from a bug, and
 * finding a UDP server's address.
 *
 * @module
 */

import { explainNetError, hostPort } from "./errors.ts";

/**
 * Shows an address as `host:port`, with IPv6 in brackets (`[::1]:21567`) and an IPv4 client of
 * a dual-stack server as plain IPv4 (`127.0.0.1`, not `::ffff:127.0.0.1`).
 */
export function formatAddress(addr: Deno.Addr): string {
  if ("hostname" in addr) return hostPort(addr.hostname, addr.port);
  return "path" in addr ? `unix:${addr.path ?? ""}` : addr.transport; // a client's end: `unix:`
}

/** Whether two addresses are the same one, however each is written. */
export function sameAddress(a: Deno.Addr, b: Deno.Addr): boolean {
  return formatAddress(a) === formatAddress(b);
}

/**
 * Where to send datagrams for a name: its first IPv4 address if it has one, as the book's
 * `AF_INET` client would. `DatagramConn.send()` takes the first address, and `localhost` may
 * list `::1` first while servers are on IPv4; over UDP, nothing answers a wrong guess. The
 * resolver (`node:dns`) loads only when called, so servers never pay its 2 MiB.
 */
export async function udpAddressOf(hostname: string, port: number): Promise<string> {
  const { lookup } = await import("node:dns/promises");
  try {
    const found = await lookup(hostname, { all: true, verbatim: true });
    const { address } = found.find(({ family }) => family === 4) ?? found[0];
    // Sent to 0.0.0.0 or ::, a datagram goes to this machine; its reply comes from loopback.
    return address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
  } catch (err) {
    throw explainNetError(err, "send to", hostname, hostPort(hostname, port));
  }
}

/** Accept errors that concern one connection only, which the next `accept()` does not share. */
const ONE_CONNECTION = new Set(["ECONNABORTED", "ECONNRESET", "ENOTCONN", "EPROTO", "EPERM"]);
/** Accept errors that mean the process is out of descriptors or memory for now. */
const OUT_OF_RESOURCES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);
/** How long to wait before accepting again when out of descriptors. */
const BACKOFF_MS = 100;

/**
 * Yields each connection `listener.accept()` gives, until the listener is closed. A connection
 * that fails before we get it (reset by its client) is skipped. Running out of file descriptors
 * is said once on `warn`, and accepting is retried every `BACKOFF_MS` (the clients wait in the
 * kernel's queue).
 */
export async function* accepted<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  warn = (line: string) => console.error(line),
): AsyncGenerator<C> {
  let starved = false;
  while (true) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
        return; // the listener was closed: we are stopping
      }
      const code = (err as { code?: string }).code ?? "";
      if (ONE_CONNECTION.has(code) || err instanceof Deno.errors.NotConnected) continue;
      if (!OUT_OF_RESOURCES.has(code)) throw err;
      if (!starved) {
        warn(`accept failed: ${(err as Error).message}; retrying every ${BACKOFF_MS} ms`);
      }
      starved = true;
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
      continue;
    }
    if (starved) warn("accepting connections again");
    starved = false;
    yield conn;
  }
}

/** Whether `err` only says that a peer went away, or that we closed the connection: routine. */
export function isPeerGone(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.UnexpectedEof ||
    err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted;
}

/** What a server says once it listens, as the book's do: `waiting for connection on …...`. */
export function waitingLine(addr: Deno.Addr, tls = false): string {
  const what = addr.transport === "udp" || addr.transport === "unixpacket"
    ? "message"
    : "connection";
  return `waiting for ${what} on ${tls ? "tls:" : ""}${formatAddress(addr)}...`;
}

/**
 * Where a stream server listens: TCP (with TLS, given a PEM certificate and key), or a Unix
 * socket and its file's mode (who may connect). `reusePort` shares the port with other sockets
 * (`SO_REUSEPORT`; Linux, `--unstable-net`); `tcpBacklog` is `listen()`'s queue (511).
 */
export type StreamAddress =
  | {
    hostname: string;
    port: number;
    tls?: { cert: string; key: string };
    tcpBacklog?: number;
    reusePort?: boolean;
  }
  | { path: string; mode: number };

/** Whether `address` needs `lib/extras/` (TLS, a Unix socket, a shared port) or is plain TCP. */
export function isPlainTcp(address: StreamAddress): boolean {
  return !("path" in address) && !address.tls && !address.reusePort;
}

/** Where a datagram socket is bound: UDP, or a Unix datagram socket's path and its file's mode. */
export type DatagramAddress = { hostname: string; port: number } | { path: string; mode: number };
