/**
 * The clients' socket calls: resolving a name the way the system does, and connecting to the
 * first of its addresses that answers. Each failure is one clear sentence.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { explainNetError } from "./errors.ts";
import { hostPort } from "./net.ts";

/** One address a name resolves to. */
export interface Resolved {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves `hostname` the way the system does (`getaddrinfo`: `/etc/hosts`, then DNS), to every
 * address it has, in the system's order of preference.
 *
 * @throws {Failure} For an unknown host.
 */
export async function resolve(hostname: string, port: number): Promise<Resolved[]> {
  try {
    const found = await lookup(hostname, { all: true, verbatim: true });
    return found.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
  } catch (err) {
    throw explainNetError(err, "connect to", hostname, hostPort(hostname, port));
  }
}

/**
 * Picks where to send datagrams for a name: its first IPv4 address if it has one, as the book's
 * `AF_INET` client would. Over TCP a client can try each address in turn and see which one
 * answers; over UDP nothing answers a wrong guess, and `localhost` often lists `::1` first
 * while the servers listen on IPv4 by default.
 */
export function preferIPv4(addresses: Resolved[]): Resolved {
  return addresses.find(({ family }) => family === 4) ?? addresses[0];
}

/**
 * `socket()` + `connect()`: resolves `hostname` and tries each of its addresses in turn, as
 * Python's `socket.create_connection` does. (`Deno.connect` alone tries only the first, so a
 * name like `localhost` that resolves to `::1` first could not reach a server on 127.0.0.1.)
 *
 * @throws {Failure} If no address accepts the connection; it says why the last one failed.
 */
export async function connectTcp(hostname: string, port: number): Promise<Deno.TcpConn> {
  let lastError: unknown;
  for (const { address } of await resolve(hostname, port)) {
    try {
      return await Deno.connect({ hostname: address, port, transport: "tcp" });
    } catch (err) {
      lastError = explainNetError(err, "connect to", address, hostPort(hostname, port));
    }
  }
  throw lastError;
}
