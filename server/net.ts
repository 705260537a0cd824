/**
 * What the servers and clients share around Deno's socket calls (which they make themselves):
 * showing a client behind a balancer, a server's first line, and finding a UDP server's address.
 *
 * @module
 */

import { attempt } from "../lib/cli.ts";
import { formatAddress } from "../lib/command.ts";

/**
 * A connection's client, as {@linkcode formatAddress} shows it; behind a load balancer, whose
 * PROXY protocol header said who the client is, the balancer too: `203.0.113.7:51034 via
 * 127.0.0.1:40112`, or `127.0.0.1:40112 (the balancer itself)` for its own health check.
 */
export function formatPeer(conn: { readonly remoteAddr: Deno.Addr; readonly via?: Deno.Addr }) {
  const client = formatAddress(conn.remoteAddr);
  if (conn.via === undefined) return client;
  return conn.via === conn.remoteAddr
    ? `${client} (the balancer itself)`
    : `${client} via ${formatAddress(conn.via)}`;
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
  const where = { hostname, port };
  const found = await attempt(
    "send to",
    where,
    () => lookup(hostname, { all: true, verbatim: true }),
  );
  const { address } = found.find(({ family }) => family === 4) ?? found[0];
  // Sent to 0.0.0.0 or ::, a datagram goes to this machine; its reply comes from loopback.
  return address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
}

/** What a server says once it listens, as the book's do: `waiting for connection on …...`. */
export function waitingLine(addr: Deno.Addr, tls = false): string {
  const what = addr.transport === "udp" || addr.transport === "unixpacket"
    ? "message"
    : "connection";
  return `waiting for ${what} on ${tls ? "tls:" : ""}${formatAddress(addr)}...`;
}
