/**
 * The socket calls, each wrapped so that a failure is one clear sentence: listening (TCP, UDP
 * and Unix sockets), accepting, connecting, finding a UDP server's address, and showing an
 * address.
 *
 * @module
 */

import { explainNetError, Failure } from "./errors.ts";
import { type Flag, flag } from "./flags.ts";

/** `--unix PATH`: a Unix domain socket instead of `--host` and `--port`. */
const UNIX: Flag<string | undefined> = {
  ...flag.file("unix", "a Unix socket's path, instead of --host and --port"),
  value: "PATH",
};

/** A server's Unix socket flags: the path, and who may connect (its file's mode). */
export const UNIX_SERVER_FLAGS = {
  unix: UNIX,
  unixMode: {
    name: "unix-mode",
    value: "MODE",
    help: "with --unix, the socket file's mode, octal: who may connect (or send)",
    default: 0o600,
    parse(raw: string): number {
      if (!/^[0-7]{3}$/.test(raw)) {
        throw new RangeError(`must be 3 octal digits, such as 660, not "${raw}"`);
      }
      return parseInt(raw, 8);
    },
    show: (mode) => mode.toString(8).padStart(3, "0"),
  } satisfies Flag<number>,
};

/** A client's Unix socket flag. */
export const UNIX_CLIENT_FLAGS = { unix: UNIX };

/** The longest path a Unix socket's address holds on Linux, in bytes (`sun_path`, less a NUL). */
const MAX_UNIX_PATH = 107;

/**
 * `socket(AF_UNIX)` + `bind()` + `listen()` at `path`, its file given `mode` (a Unix socket's
 * file mode is who may connect). A file left by a server that is gone (nothing accepts on it) is
 * removed first; a live server's, or a file that is not a socket, is an error. The mode is set
 * just after the bind: where even that instant matters, put the socket in a folder that only
 * its owner may enter.
 */
export async function listenUnix(path: string, mode: number): Promise<Deno.UnixListener> {
  await clearStale(path, "listen on");
  try {
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, mode);
    return listener;
  } catch (err) {
    throw explainNetError(err, "listen on", path, `unix:${path}`);
  }
}

/**
 * `socket(AF_UNIX, SOCK_DGRAM)` + `bind()` at `path` (needs `--unstable-net`), with the rules of
 * {@linkcode listenUnix}. Unlike a stream listener's, its file stays after `close()`: remove it.
 */
export async function listenUnixDatagram(
  path: string,
  mode: number,
  action: "listen on" | "open a socket on" = "listen on",
): Promise<Deno.DatagramConn> {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Failure(
      "Unix datagrams need Deno's --unstable-net flag: deno run -N --unstable-net …",
    );
  }
  await clearStale(path, action);
  try {
    const socket = Deno.listenDatagram({ transport: "unixpacket", path });
    await Deno.chmod(path, mode);
    return socket;
  } catch (err) {
    throw explainNetError(err, action, path, `unix:${path}`);
  }
}

/**
 * Makes `path` free for a new socket: removes a socket file that nothing serves any more
 * (connecting is refused); a file a running server holds, or that is not a socket, or a path
 * too long, is an error.
 */
async function clearStale(path: string, action: "listen on" | "open a socket on") {
  const fail = (why: string) => new Failure(`Cannot ${action} unix:${path}: ${why}`);
  if (new TextEncoder().encode(path).length > MAX_UNIX_PATH) {
    throw fail(`the path is too long for a Unix socket (at most ${MAX_UNIX_PATH} bytes)`);
  }
  try {
    if (!(await Deno.lstat(path)).isSocket) throw fail("it exists, and is not a socket");
    (await Deno.connect({ transport: "unix", path })).close();
    throw fail("it is in use by a running server");
  } catch (err) {
    if (err instanceof Failure) throw err;
    if (err instanceof Deno.errors.ConnectionRefused) return await Deno.remove(path); // stale
    if (err instanceof Deno.errors.NotFound) return;
    // A datagram socket answers a stream's connect so: someone holds it.
    if (/wrong type/.test((err as Error).message)) throw fail("it is in use by a running server");
    throw explainNetError(err, action, path, `unix:${path}`);
  }
}

/** `socket(AF_UNIX)` + `connect()` to `path`. */
export async function connectUnix(path: string): Promise<Deno.UnixConn> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch (err) {
    throw explainNetError(err, "connect to", path, `unix:${path}`);
  }
}

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
 * Why a datagram server's reply to `client` could not be sent, in words a user can act on. Over
 * AF_UNIX a reply goes to the sender's own socket file, which it must have bound, and which
 * Deno must be let reach and write.
 */
export function whyNoReply(err: unknown, client: Deno.Addr): string {
  const message = err instanceof Error ? err.message : String(err);
  if (!("path" in client)) return message;
  if (!client.path) return "it has no address (a Unix datagram client must bind a path)";
  if (err instanceof Deno.errors.NotCapable) {
    return "leave to reach its socket was not granted (run with -N, and --allow-write for the " +
      "folder where clients bind, such as /tmp)";
  }
  return message;
}

/** `host:port`, with an IPv6 host in brackets and an IPv4-mapped one shown as plain IPv4. */
export function hostPort(hostname: string, port: number): string {
  const host = hostname.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Where a server listens: a host and port, or a Unix socket's path and its file's mode. */
export type ListenAddress = { hostname: string; port: number } | { path: string; mode: number };

/**
 * How a TCP socket listens: `tcpBacklog` is `listen()`'s queue of connections not yet accepted
 * (Deno's default 511); `reusePort` lets other sockets listen on the same port, and the kernel
 * spreads connections among them (`SO_REUSEPORT`; Linux, needs `--unstable-net`).
 */
export interface TcpListenOptions {
  tcpBacklog?: number;
  reusePort?: boolean;
}

/** `socket()` + `bind()` + `listen()` for TCP. Deno sets SO_REUSEADDR, so a restart can rebind. */
export function listenTcp(
  hostname: string,
  port: number,
  options: TcpListenOptions = {},
): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port, transport: "tcp", ...options });
  } catch (err) {
    throw explainNetError(err, "listen on", hostname, hostPort(hostname, port));
  }
}

/** `socket()` + `bind()` for UDP (needs `--unstable-net`); a client says it opens a socket. */
export function listenUdp(
  hostname: string,
  port: number,
  action: "listen on" | "open a UDP socket on" = "listen on",
): Deno.DatagramConn {
  if (typeof Deno.listenDatagram !== "function") {
    throw new Failure("UDP needs Deno's --unstable-net flag: deno run -N --unstable-net …");
  }
  try {
    return Deno.listenDatagram({ hostname, port, transport: "udp" });
  } catch (err) {
    throw explainNetError(err, action, hostname, hostPort(hostname, port));
  }
}

/**
 * `socket()` + `connect()`. Like Python's `create_connection`, `Deno.connect` tries each address
 * of a name (`localhost` may be `::1` first, the server on 127.0.0.1) until one answers.
 */
export async function connectTcp(hostname: string, port: number): Promise<Deno.TcpConn> {
  try {
    return await Deno.connect({ hostname, port, transport: "tcp" });
  } catch (err) {
    throw explainNetError(err, "connect to", hostname, hostPort(hostname, port));
  }
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
 * Yields each connection the listener accepts, until it is closed. A connection that fails
 * before we get it (reset by its client) is skipped. Running out of file descriptors is logged
 * once, and accepting is retried every `BACKOFF_MS` (the clients wait in the kernel's queue).
 */
export async function* accepted<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
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
        console.error(`accept failed: ${(err as Error).message}; retrying every ${BACKOFF_MS} ms`);
        starved = true;
      }
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
      continue;
    }
    if (starved) {
      console.error("accepting connections again");
      starved = false;
    }
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
