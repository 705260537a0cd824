/**
 * `--proxy-protocol`: a server behind a layer-4 load balancer (HAProxy with `send-proxy-v2`,
 * say) sees every connection come from the balancer. The balancer says who the client really
 * is in a PROXY protocol header, before anything else on the connection (and before TLS).
 * {@linkcode proxyListener} reads that header for each connection it accepts, in the
 * connection's own time, so that a slow one holds up no other; it gives the server only the
 * connections whose header was whole and came from a trusted balancer (`--proxy-from`), each
 * with the client's address as its `remoteAddr` and the balancer's as its `via`. Anything else
 * is one line on `warn` (a second at most, with a count, under a flood) and a closed socket.
 *
 * @module
 */

import { acceptor, type Stream, type StreamListener } from "./connections.ts";
import type { ProxyTrust } from "./addresses.ts";
import { concat } from "../lib/prompt.ts";
import { formatAddress } from "../lib/command.ts";
import { SHUTDOWN_DEADLINE_MS } from "../lib/shutdown.ts";
import { Throttled } from "./throttled.ts";
import {
  ipBytes,
  MAX_V2_LENGTH,
  parseProxyHeader,
  type ProxyHeader,
  ProxyHeaderError,
} from "./proxy_protocol.ts";

/** The balancers trusted unless told otherwise (`--proxy-from`): this machine's own. */
export const LOOPBACK = "127.0.0.0/8,::1";
/** Connections whose header is on its way, at most: beyond, new ones are closed at once. */
const MAX_PENDING = 1024;
/** The most bytes one read takes while looking for the header: the longest header there is. */
const HEADER_READ = 16 + MAX_V2_LENGTH;

/** An IP network, as `--proxy-from` lists them: its address's bytes, and how many count. */
interface Network {
  bytes: Uint8Array;
  bits: number;
}

/**
 * The networks of a `--proxy-from` list (`127.0.0.0/8,::1,10.0.0.0/8`); an address alone is a
 * network of one.
 * @throws {RangeError} Naming the entry that is not an address or CIDR.
 */
export function parseNetworks(list: string[]): Network[] {
  return list.map((entry) => {
    const [address, prefix, ...more] = entry.trim().split("/");
    const bytes = ipBytes(address);
    const bits = prefix === undefined ? (bytes?.length ?? 0) * 8 : Number(prefix);
    if (!bytes || more.length || !/^\d{1,3}$/.test(prefix ?? "0") || bits > bytes.length * 8) {
      throw new RangeError(`"${entry}" is not an address or CIDR (such as 10.0.0.0/8 or ::1)`);
    }
    return { bytes, bits };
  });
}

/**
 * Whom a list of `networks` trusts beyond reason: "every address", "every IPv4 address" or
 * "every IPv6 address" when its networks cover one family whole (`0.0.0.0/0`, or
 * `0.0.0.0/1,128.0.0.0/1`); else `undefined`.
 */
export function trustsEvery(networks: Network[]): string | undefined {
  const v4 = covered(networks.filter(({ bytes }) => bytes.length === 4));
  const v6 = covered(networks.filter(({ bytes }) => bytes.length === 16));
  return v4 && v6
    ? "every address"
    : v4
    ? "every IPv4 address"
    : v6
    ? "every IPv6 address"
    : undefined;
}

/** Whether `networks`, which agree on their first `bit` bits, cover all that begin so. */
function covered(networks: Network[], bit = 0): boolean {
  if (networks.length === 0) return false;
  if (networks.some(({ bits }) => bits <= bit)) return true;
  const at = ({ bytes }: Network) => (bytes[bit >> 3] >> (7 - bit % 8)) & 1;
  return covered(networks.filter((n) => at(n) === 0), bit + 1) &&
    covered(networks.filter((n) => at(n) === 1), bit + 1);
}

/** Whether `hostname` is in one of `networks` (an IPv4-mapped IPv6 address counts as IPv4). */
export function isTrusted(hostname: string, networks: Network[]): boolean {
  const bytes = ipBytes(hostname.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1"));
  return bytes !== undefined && networks.some(({ bytes: network, bits }) => {
    if (network.length !== bytes.length) return false;
    for (let bit = 0; bit < bits; bit++) {
      const mask = 0x80 >> (bit % 8);
      if ((network[bit >> 3] & mask) !== (bytes[bit >> 3] & mask)) return false;
    }
    return true;
  });
}

/**
 * A connection whose PROXY header has been read: the client's address as `remoteAddr`, the
 * balancer's as `via` (both the balancer's, for its own health check: v2 LOCAL). The bytes
 * read past the header are the client's own, and the first reads give them back.
 */
class ProxiedConn implements Stream {
  readonly remoteAddr: Deno.Addr;
  readonly via?: Deno.Addr;
  readonly localAddr: Deno.Addr;
  #conn: Stream;
  #rest: Uint8Array;

  constructor(conn: Stream, header: ProxyHeader, rest: Uint8Array) {
    this.#conn = conn;
    this.#rest = rest;
    this.localAddr = conn.localAddr;
    const { source } = header;
    this.via = conn.remoteAddr;
    this.remoteAddr = source // else served as the balancer itself
      ? { transport: "tcp", hostname: source.hostname, port: source.port }
      : conn.remoteAddr;
    // --trace's hooks (lib/extras/trace.ts), if it traces the connection under this one.
    for (const hook of ["traceTls", "traceHandler"] as const) {
      if (hook in conn) Object.assign(this, { [hook]: (conn as Record<string, unknown>)[hook] });
    }
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#rest.length === 0) return this.#conn.read(buffer);
    const n = Math.min(buffer.length, this.#rest.length);
    buffer.set(this.#rest.subarray(0, n));
    this.#rest = this.#rest.subarray(n);
    return Promise.resolve(n);
  }
  write(data: Uint8Array): Promise<number> {
    return this.#conn.write(data);
  }
  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }
  close(): void {
    this.#conn.close();
  }
  setNoDelay(noDelay = true): void {
    this.#conn.setNoDelay?.(noDelay);
  }
}

/** No header came: none before the deadline, or the client closed first. */
class NoHeader extends Error {}

/**
 * Reads `conn`'s PROXY header, `timeoutMs` at most.
 * @throws {Error} Saying, for the log, what was wrong: a header that breaks the protocol, none
 * in time, or a connection that ended first.
 */
async function readHeader(conn: Stream, timeoutMs: number): Promise<ProxiedConn> {
  let received: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(HEADER_READ);
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    conn.close(); // ends the read below
  }, timeoutMs);
  try {
    while (true) {
      const header = parseProxyHeader(received);
      if (header) return new ProxiedConn(conn, header, received.slice(header.length));
      // Our close at the deadline ends the read: whatever the read says then, the deadline is why.
      const n = await conn.read(chunk).catch((err) => late ? null : Promise.reject(err));
      if (late) throw new NoHeader(`no PROXY protocol header within ${timeoutMs / 1000} s`);
      if (n === null) throw new NoHeader("it closed before its PROXY protocol header was whole");
      received = concat(received, chunk.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `listener`, behind a balancer: each connection it gives has had its PROXY protocol header
 * read, within `trust.timeoutMs`, from one of the balancers in `trust.from`; any other is
 * closed, with a line on `warn`. A Unix socket's clients are all trusted: its file's mode says
 * who may connect.
 */
export function proxyListener(
  listener: StreamListener,
  trust: ProxyTrust,
  warn: (line: string) => void,
): StreamListener {
  const networks = parseNetworks(trust.from);
  const ready: Stream[] = [];
  const waiting: { resolve(conn: Stream): void; reject(err: Error): void }[] = [];
  const pending = new Set<Stream>();
  let closed = false;
  const refused = new Throttled(warn);
  const refuse = (conn: Stream, why: string) => {
    try {
      conn.close();
    } catch { /* it has gone */ }
    const peer = formatAddress(conn.remoteAddr);
    refused.note((count) =>
      count > 1
        ? `...closed ${count} connections without a PROXY protocol header we take, the last from ${peer}: ${why}`
        : `...closing ${peer}: ${why}`
    );
  };
  const deliver = (conn: Stream) => {
    const next = waiting.shift();
    if (next) next.resolve(conn);
    else ready.push(conn);
  };
  // Once closed, an accept() waits only while a header is still on its way; then it fails.
  const drained = () => {
    if (!closed || pending.size > 0) return;
    refused.flush(); // the stop must not swallow a line
    for (const next of waiting.splice(0)) {
      next.reject(new Deno.errors.BadResource("the listener is closed"));
    }
  };
  const admit = (conn: Stream) => {
    const { remoteAddr } = conn;
    if ("hostname" in remoteAddr && !isTrusted(remoteAddr.hostname, networks)) {
      return refuse(conn, "not a balancer --proxy-from trusts");
    }
    if (pending.size >= MAX_PENDING) {
      return refuse(conn, `${MAX_PENDING} headers on their way already`);
    }
    pending.add(conn);
    readHeader(conn, trust.timeoutMs).then((proxied) => {
      pending.delete(conn);
      deliver(proxied); // even once closed: its request is on its way, and a stop answers it
      drained();
    }, (err) => {
      pending.delete(conn);
      // What ended it, even when the stop came after: a deadline's close races a stop.
      const why = err instanceof ProxyHeaderError
        ? `bad PROXY protocol header: ${err.message}`
        : err instanceof NoHeader
        ? err.message
        : closed
        ? "the server stopped before its PROXY protocol header came"
        : (err as Error).message;
      refuse(conn, why);
      drained();
    });
  };
  // Accepting goes on by itself, with the same rules as a server's own loop (lib/connections.ts).
  const accept = acceptor(listener, warn);
  (async () => {
    let conn;
    while ((conn = await accept()) !== null) admit(conn);
  })().catch((err) => {
    closed = true;
    for (const next of waiting.splice(0)) next.reject(err);
  });
  return {
    addr: listener.addr,
    accept(): Promise<Stream> {
      const conn = ready.shift();
      if (conn) return Promise.resolve(conn);
      if (closed && pending.size === 0) {
        return Promise.reject(new Deno.errors.BadResource("the listener is closed"));
      }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    /**
     * Stops accepting. The connections accepted already are still given once their header is
     * read (within its deadline): their requests are on their way, and a stop answers them.
     */
    close(): void {
      if (closed) return;
      closed = true;
      listener.close();
      refused.flush();
      drained();
      // A stop waits for a header no longer than for a reply.
      const late = setTimeout(() => pending.forEach((conn) => conn.close()), SHUTDOWN_DEADLINE_MS);
      Deno.unrefTimer(late);
    },
  };
}
