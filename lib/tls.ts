/**
 * TLS, which the book's `ssl()` starts "with no certificate verification": here a server shows a
 * certificate, and a client checks it against the system's CAs (and any `--ca` given) and the
 * name it asked for. Each failure is one sentence that says what to do.
 *
 * @module
 */

import { explainNetError, Failure } from "./errors.ts";
import { type Command, flag, usageError } from "./flags.ts";
import { connectTcp, connectUnix, hostPort, type TcpListenOptions } from "./net.ts";

/** A TLS server's flags: its certificate and key (both or neither), and a handshake's deadline. */
export const SERVER_FLAGS = {
  tlsCert: flag.file("tls-cert", "serve TLS, with this PEM certificate (chain)"),
  tlsKey: flag.file("tls-key", "and this PEM private key"),
  handshakeTimeout: flag.seconds(
    "handshake-timeout",
    10,
    "close a TLS connection not set up by then",
  ),
};

/** A TLS client's flags: TLS on, and a CA to trust besides the system's. */
export const CLIENT_FLAGS = {
  tls: flag.onOff("tls", "connect with TLS, checking the server's certificate and name"),
  ca: flag.file("ca", "with --tls, also trust this PEM CA certificate (a private or local CA)"),
};

/**
 * The identity `--tls-cert` and `--tls-key` name, read from their files; none without them.
 *
 * @throws {UsageError} If only one of the two is given.
 */
export function serverIdentity(
  options: { tlsCert?: string; tlsKey?: string },
  command: Command,
): Identity | undefined {
  const { tlsCert, tlsKey } = options;
  if (tlsCert === undefined && tlsKey === undefined) return undefined;
  if (tlsCert === undefined || tlsKey === undefined) {
    throw usageError(command, "--tls-cert and --tls-key go together: give both, or neither");
  }
  return { cert: readPem(tlsCert, "--tls-cert"), key: readPem(tlsKey, "--tls-key") };
}

/**
 * `socket()` + `connect()`: to a Unix socket for `--unix`, else over TCP, with TLS for `--tls`.
 *
 * @throws {UsageError} For `--ca` without `--tls`, or TLS over a Unix socket.
 */
export function connectWith(
  options: { host: string; port: number; tls: boolean; ca?: string; unix?: string },
  command: Command,
): Promise<Deno.TcpConn | Deno.TlsConn | Deno.UnixConn> {
  if (options.ca !== undefined && !options.tls) {
    throw usageError(command, "--ca goes with --tls");
  }
  if (options.unix !== undefined) {
    if (options.tls) throw usageError(command, "--tls is for TCP, not --unix");
    return connectUnix(options.unix);
  }
  return options.tls
    ? connectTls(options.host, options.port, options.ca)
    : connectTcp(options.host, options.port);
}

/** A server's certificate chain and private key, as PEM text. */
export interface Identity {
  cert: string;
  key: string;
}

/** Reads a PEM file that the user named with `option`. */
function readPem(path: string, option: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable
      ? `reading it was not granted (run with --allow-read=${path})`
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (err as Error).message;
    throw new Failure(`Cannot read ${option} ${path}: ${why}`, { cause: err });
  }
}

/** `socket()` + `bind()` + `listen()`, with TLS on each connection accepted. */
export function listenTls(
  hostname: string,
  port: number,
  identity: Identity,
  options: TcpListenOptions = {},
): Deno.TlsListener {
  try {
    return Deno.listenTls({ hostname, port, transport: "tcp", ...identity, ...options });
  } catch (err) {
    const message = (err as Error).message;
    const why = /No certificates found/.test(message)
      ? "--tls-cert holds no PEM certificate"
      : /No keys found/.test(message)
      ? "--tls-key holds no PEM private key"
      : /KeyMismatch|not be consistent/.test(message)
      ? "--tls-key is not the key of the certificate in --tls-cert"
      : undefined;
    if (!why) throw explainNetError(err, "listen on", hostname, hostPort(hostname, port));
    throw new Failure(`Cannot listen on ${hostPort(hostname, port)} with TLS: ${why}`, {
      cause: err,
    });
  }
}

/** What a failed TLS handshake means, for a person: a client's view, then a server's. */
export function explainTlsError(err: unknown, side: "client" | "server"): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (/UnknownIssuer/.test(message)) {
    return "the server's certificate is not signed by a CA this machine trusts " +
      "(add its CA with --ca FILE)";
  }
  const name = /not valid for name "([^"]*)"; certificate is only valid for (.*)$/.exec(message);
  if (name) {
    const valid = name[2].replace(/(?:DnsName|IpAddress)\("?([^")]*)"?\)/g, "$1")
      .replace("0::1", "::1");
    return `the server's certificate is not valid for the name "${name[1]}" (only for ${valid})`;
  }
  if (/Expired/.test(message)) return "the server's certificate has expired";
  if (/NotValidYet/.test(message)) return "the server's certificate is not valid yet";
  const alert = /received fatal alert: (\w+)/.exec(message);
  if (alert) {
    return side === "server"
      ? `the client refused our certificate (${alert[1]}: does it trust our CA?)`
      : `the server refused the handshake (${alert[1]})`;
  }
  if (/InvalidContentType|corrupt message/.test(message)) {
    return side === "client"
      ? "the server does not speak TLS (is it a plain server? then leave out --tls)"
      : "the client does not speak TLS (a plain client at a TLS server?)";
  }
  return undefined;
}

/**
 * `socket()` + `connect()`, then the TLS handshake: the server's certificate must be signed by
 * a CA this machine trusts, or by `caFile`'s, and be valid now for `hostname`.
 *
 * @throws {Failure} If the connection or the handshake fails; it says why.
 */
export async function connectTls(
  hostname: string,
  port: number,
  caFile?: string,
): Promise<Deno.TlsConn> {
  const caCerts = caFile === undefined ? undefined : [readPem(caFile, "--ca")];
  let conn: Deno.TcpConn | Deno.TlsConn | undefined;
  try {
    // TCP first, to turn Nagle's algorithm off, which a TLS connection cannot: else a write
    // that follows the handshake waits for the server's delayed ACK (40 ms).
    conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    conn = await Deno.startTls(conn, { hostname, caCerts });
    await conn.handshake();
    return conn;
  } catch (err) {
    try {
      conn?.close();
    } catch {
      // taken over by startTls, or closed already
    }
    const why = explainTlsError(err, "client");
    if (!why) throw explainNetError(err, "connect to", hostname, hostPort(hostname, port));
    throw new Failure(`Cannot connect to ${hostPort(hostname, port)}: ${why}`, { cause: err });
  }
}
