/**
 * Where servers listen, as the SocketServer classes and the streams' transport chooser take it:
 * types alone, so importing them (`import type`) loads nothing.
 *
 * @module
 */

/** TLS for a TCP listener: a PEM certificate (chain) and key, and how long a handshake may take. */
export type TlsIdentity = { cert: string; key: string; handshakeTimeoutMs: number };

/**
 * A server behind a load balancer: each connection starts with a PROXY protocol header, taken
 * only from the balancers in `from` (addresses and CIDRs), and within `timeoutMs`.
 */
export type ProxyTrust = { from: string[]; timeoutMs: number };

/**
 * Where a stream server listens: TCP (TLS, given an identity; `reusePort` shares the port with
 * `SO_REUSEPORT`; `tcpBacklog` is `listen()`'s queue, 511), or a Unix socket and its file's mode;
 * either behind a balancer, given `proxy`.
 */
export type StreamAddress =
  | {
    hostname: string;
    port: number;
    tls?: TlsIdentity;
    tcpBacklog?: number;
    reusePort?: boolean;
    proxy?: ProxyTrust;
  }
  | { path: string; mode: number; proxy?: ProxyTrust };

/** Where a datagram socket is bound: UDP, or a Unix datagram socket's path and its file's mode. */
export type DatagramAddress = { hostname: string; port: number } | { path: string; mode: number };
