/**
 * The one place a stream's transport is chosen, from a script's flags or from an address: TCP,
 * TLS over TCP (`--tls-cert` and `--tls-key`; a client's `--tls`) or a Unix socket (`--unix`);
 * for a server behind a balancer, with each connection's PROXY header read first
 * (`--proxy-protocol`, `proxy_listener.ts`). The scripts make the plain TCP calls themselves; they, the SocketServer classes and the load
 * engine come here for the rest. (Datagrams have two kinds only: plain UDP, which the scripts
 * and `DatagramServer` bind themselves, and a Unix datagram socket, `listenUnixDatagram()` in
 * `unix.ts`.)
 *
 * @module
 */

import type { Session, StreamListener } from "./connections.ts";
import type { ProxyTrust, StreamAddress, TlsIdentity } from "./addresses.ts";
import { attempt } from "../lib/cli.ts";
import { type Runnable, usageError } from "../lib/command.ts";
import { connectTls, keyWarning, readPem } from "./tls.ts";
import { listenTls, tlsHandshake } from "./tls_server.ts";
import { connectUnix, listenUnix } from "./unix.ts";
import { LOOPBACK, parseNetworks, proxyListener, trustsEvery } from "./proxy_listener.ts";

/** Where a client connects: TCP (TLS, trusting `caCerts` besides the system's), or a path. */
export type StreamTarget =
  | { hostname: string; port: number; tls?: { caCerts?: string[] } }
  | { path: string };

/**
 * `socket()` + `bind()` + `listen()` at `address`; behind a balancer, each connection's PROXY
 * header is read first (and a connection refused is said on `warn`).
 */
export async function listenStream(
  address: StreamAddress,
  warn: (line: string) => void = (line) => console.error(line),
): Promise<StreamListener> {
  const { proxy } = address;
  const behind = (listener: StreamListener) =>
    proxy ? proxyListener(listener, proxy, warn) : listener;
  if ("path" in address) return behind(await listenUnix(address.path, address.mode));
  const { tls, proxy: _, ...tcp } = address;
  if (tls) return listenTls(tcp, tls, behind);
  return behind(attempt("listen on", tcp, () => Deno.listen({ ...tcp, transport: "tcp" })));
}

/** `socket()` + `connect()` to `target`, and for TLS the handshake. */
export function connectStream(target: StreamTarget): Promise<Deno.Conn> {
  if ("path" in target) return connectUnix(target.path);
  const { hostname, port, tls } = target;
  if (tls) return connectTls(hostname, port, tls.caCerts);
  return attempt("connect to", target, () => Deno.connect({ hostname, port }));
}

/** A stream server's flags. */
export interface ServerFlags {
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  unix?: string;
  unixMode: number;
  handshakeTimeout: number;
  proxyProtocol: boolean;
  proxyFrom?: string; // none given: loopback
}

/**
 * Where a stream server's flags say to listen: `--unix`, or `--host` and `--port` (a worker's
 * shared `port`, with `reusePort`), with TLS for `--tls-cert` and `--tls-key`, read here.
 *
 * @throws {UsageError} For one of the TLS flags without the other, TLS with `--unix`, or a bad
 * `--proxy-from`.
 * @throws {Failure} For a certificate or key file that cannot be read, or is not a regular file
 * of at most 1 MiB.
 */
export function serverAddress(
  options: ServerFlags,
  command: Runnable,
  shared?: { port: number },
): StreamAddress {
  const { tlsCert, tlsKey } = options;
  let tls: TlsIdentity | undefined;
  if (tlsCert !== undefined || tlsKey !== undefined) {
    if (tlsCert === undefined || tlsKey === undefined) {
      throw usageError(command, "--tls-cert and --tls-key go together: give both, or neither");
    }
    const files = [tlsCert, tlsKey]; // without leave to read them, one flag for both
    const cert = readPem(tlsCert, "--tls-cert", files);
    const key = readPem(tlsKey, "--tls-key", files);
    tls = { cert, key, handshakeTimeoutMs: options.handshakeTimeout * 1000 };
  }
  const proxy = proxyTrust(options, command);
  if (options.unix === undefined) {
    const port = shared?.port ?? options.port;
    return { hostname: options.host, port, tls, reusePort: shared !== undefined, proxy };
  }
  if (tls) throw usageError(command, "TLS is for TCP, not --unix");
  return { path: options.unix, mode: options.unixMode, proxy };
}

/** `--proxy-protocol`: whom to take the header from (`--proxy-from`, checked), and how long. */
function proxyTrust(options: ServerFlags, command: Runnable): ProxyTrust | undefined {
  if (!options.proxyProtocol) {
    if (options.proxyFrom === undefined) return undefined;
    throw usageError(command, "--proxy-from goes with --proxy-protocol");
  }
  const from = (options.proxyFrom ?? LOOPBACK).split(",");
  try {
    parseNetworks(from);
  } catch (err) {
    throw usageError(command, `--proxy-from: ${(err as Error).message}`);
  }
  return { from, timeoutMs: options.handshakeTimeout * 1000 };
}

/**
 * What a stream server's flags allow but should not, a line each, for its first thread to say
 * once at start: a private key that others may read (ssh would refuse it), a `--proxy-from`
 * that trusts every address.
 */
export function flagWarnings(options: ServerFlags): string[] {
  const lines: string[] = [];
  const key = options.tlsKey && keyWarning(options.tlsKey, "--tls-key");
  if (key) lines.push(key);
  const from = options.proxyFrom?.split(",");
  const everyone = from && options.unix === undefined && trustsEvery(parseNetworks(from));
  if (everyone) {
    lines.push(
      `warning: --proxy-from ${options.proxyFrom} trusts ${everyone}: anyone who can connect ` +
        "can claim to be any address (list only your balancers)",
    );
  }
  return lines;
}

/** A stream server's listening socket, made as its flags say. */
export interface Listening {
  listener: StreamListener;
  tls: boolean;
  /** What to do first with each connection (`Connections`' `handshake`): TLS's, or nothing. */
  handshake(log?: (line: string) => void): ((session: Session) => Promise<boolean>) | undefined;
}

/** {@linkcode listenStream} where a stream server's flags say (see {@linkcode serverAddress}). */
export function listenFor(
  options: ServerFlags,
  command: Runnable,
  shared?: { port: number },
  warn?: (line: string) => void,
): Promise<Listening> {
  return listenAt(serverAddress(options, command, shared), warn);
}

/** {@linkcode listenStream} at `address`, and what to do first with each connection. */
export async function listenAt(
  address: StreamAddress,
  warn?: (line: string) => void,
): Promise<Listening> {
  const tls = "tls" in address ? address.tls : undefined;
  return {
    listener: await listenStream(address, warn),
    tls: tls !== undefined,
    handshake: (log) => tls && tlsHandshake(tls.handshakeTimeoutMs, log),
  };
}

/**
 * Where a client's flags say to connect: `--unix`, or `--host` and `--port`, with TLS for
 * `--tls` (trusting `--ca`, read here).
 *
 * @throws {UsageError} For `--ca` without `--tls`, or TLS with `--unix`.
 */
export function clientTarget(
  options: { host: string; port: number; tls: boolean; ca?: string; unix?: string },
  command: Runnable,
): StreamTarget {
  if (options.ca !== undefined && !options.tls) {
    throw usageError(command, "--ca goes with --tls");
  }
  if (options.unix !== undefined) {
    if (options.tls) throw usageError(command, "--tls is for TCP, not --unix");
    return { path: options.unix };
  }
  const caCerts = options.ca === undefined ? undefined : [readPem(options.ca, "--ca")];
  return { hostname: options.host, port: options.port, tls: options.tls ? { caCerts } : undefined };
}
