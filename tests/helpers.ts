/**
 * Test helpers: run the scripts (and the Python peers) as a user would, as subprocesses, on
 * port 0 and loopback only, and with every wait bounded in time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { concat, writeAll } from "../lib/prompt.ts";
import { isWholeReply } from "../lib/reply.ts";
import { STAMP_SOURCE } from "../server/reply.ts";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import { denoArgs } from "../tools/scripts.ts";
import { certs } from "../tools/certs.ts";
import { Proc, type Result, type SpawnOptions } from "./processes.ts";

export { concat, denoArgs, writeAll };
export { Output, Proc, type Result, type SpawnOptions } from "./processes.ts";
export { memoryKiB, openFiles } from "../tools/proc.ts";
export { scriptPath } from "../tools/scripts.ts";

const PEERS = new URL("./peers/book_peers.py", import.meta.url).pathname;
const decoder = new TextDecoder();
export const encoder = new TextEncoder();

/** Starts one of our scripts. */
export function spawnScript(name: string, args: string[] = [], options: SpawnOptions = {}): Proc {
  const [run, ...rest] = denoArgs(name, args);
  const deno = [run, ...(options.denoFlags ?? []), ...rest];
  if (options.maxFiles === undefined) return new Proc(Deno.execPath(), deno, options);
  const limited = ["-c", `ulimit -n ${options.maxFiles} && exec "$@"`, "sh", Deno.execPath()];
  return new Proc("sh", [...limited, ...deno], options);
}

/**
 * How the stream tests reach a server: plain TCP, TLS with a throw-away CA, or a Unix socket. A
 * test written once runs over each (`for (const transport of TRANSPORTS)`); its `server` and
 * `client` flags are those of tsd and client.ts (see `startTsd()` in `commands.ts`), which the lessons
 * leave out.
 */
export interface Transport {
  name: "tcp" | "tls" | "unix";
  /** How a server's log shows where it listens, and a client: regular expression sources. */
  listening: string;
  client: SpawnOptions & { args: string[] };
  clientLog: string;
  /** For our servers: the certificate and key, and leave to read them. */
  server: SpawnOptions & { args: string[] };

  /** A test's own connection to a server on loopback. */
  connect(port: number, hostname?: string): Promise<Deno.Conn>;
  /**
   * The same, but `first` goes out in the clear before the transport speaks (a PROXY protocol
   * header, which comes before TLS's handshake); given in pieces, each in a write of its own,
   * a moment apart, so that each comes in a read of its own.
   */
  connectAfter(port: number, first: Uint8Array | Uint8Array[]): Promise<Deno.Conn>;
}

/** A PROXY protocol v1 header: the client `source`:`port` came to a balancer's port 21567. */
export function proxyV1(source: string, port: number): Uint8Array {
  const [family, front] = source.includes(":") ? ["TCP6", "::1"] : ["TCP4", "127.0.0.1"];
  return encoder.encode(`PROXY ${family} ${source} ${front} ${port} 21567\r\n`);
}

/** Connects over plain TCP (or to `path`), and sends `first`, in its pieces if in pieces. */
async function connectSending(first: Uint8Array | Uint8Array[], port: number, path?: string) {
  const conn = path === undefined
    ? await Deno.connect({ hostname: "127.0.0.1", port })
    : await Deno.connect({ transport: "unix", path });
  const pieces = Array.isArray(first) ? first : [first];
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await sleep(20);
    await writeAll(conn, piece);
  }
  return conn;
}

const TCP: Transport = {
  name: "tcp",
  listening: "127\\.0\\.0\\.1:\\d+",
  clientLog: "127\\.0\\.0\\.1:\\d+",
  server: { args: [] },
  client: { args: [] },
  connect: (port, hostname = "127.0.0.1") => Deno.connect({ hostname, port }),
  connectAfter: (port, first) => connectSending(first, port),
};

async function tlsTransport(): Promise<Transport> {
  const { ca, caPem, cert, key, dir } = await certs();
  const read = [`--allow-read=${dir}`];
  return {
    name: "tls",
    listening: "tls:127\\.0\\.0\\.1:\\d+",
    clientLog: "127\\.0\\.0\\.1:\\d+",
    server: { args: ["--tls-cert", cert, "--tls-key", key], denoFlags: read },
    client: { args: ["--tls", "--ca", ca], denoFlags: read },
    async connect(port, hostname = "127.0.0.1") {
      const conn = await Deno.connectTls({ hostname, port, caCerts: [caPem] });
      await conn.handshake();
      return conn;
    },
    async connectAfter(port, first) {
      const tcp = await connectSending(first, port) as Deno.TcpConn;
      const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [caPem] });
      await conn.handshake();
      return conn;
    },
  };
}

/**
 * This run's own folder for Unix sockets: `deno task test` makes it, grants its one stream
 * socket path (`--allow-net=unix:…`, which takes no folder), and removes it at the end. Run
 * otherwise (with `-N`), the tests make one and remove it when they end.
 */
export const SOCKETS = Deno.env.get("TS_DENO_TEST_DIR") ?? await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "ts-deno-test." });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  return dir;
})();

/** The Unix stream socket path the tests use. */
export const UNIX_PATH = `${SOCKETS}/stream.sock`;

const UNIX: Transport = {
  name: "unix",
  listening: `unix:${UNIX_PATH.replaceAll(".", "\\.")}`,
  clientLog: "unix:",
  // A Unix socket needs leave to read and write its file, besides the network's.
  server: {
    args: ["--unix", UNIX_PATH],
    denoFlags: [`--allow-read=${UNIX_PATH}`, `--allow-write=${UNIX_PATH}`, "--allow-sys"],
  },
  client: {
    args: ["--unix", UNIX_PATH],
    denoFlags: [`--allow-read=${UNIX_PATH}`, `--allow-write=${UNIX_PATH}`],
  },
  connect: () => Deno.connect({ transport: "unix", path: UNIX_PATH }),
  connectAfter: (_port, first) => connectSending(first, 0, UNIX_PATH),
};

/** Every transport the stream tests run over. */
export const TRANSPORTS: Transport[] = [TCP, await tlsTransport(), UNIX];

/**
 * A datagram transport the UDP server's tests run over, as {@linkcode Transport} is for stream
 * ones: UDP, or Unix datagram sockets.
 */
export interface Datagrams {
  name: "udp" | "unix";
  /** How the server's log shows where it listens, and a client: regular expression sources. */
  listening: string;
  clientLog: string;
  server: SpawnOptions & { args: string[] };
  client: SpawnOptions & { args: string[] };
  /** Sends each payload from a socket of its own, all at once; the replies, in their order. */
  exchange(server: Server, payloads: Uint8Array[]): Promise<Uint8Array[]>;
}

/** The Unix datagram socket the tests use; only Python peers send to it from the test. */
export const UNIX_DGRAM_PATH = `${SOCKETS}/dgram.sock`;

/**
 * Sends each payload over AF_UNIX from a Python socket bound in a folder of its own (a Unix
 * datagram sender needs a path for the reply to come back to).
 */
async function unixExchange(payloads: Uint8Array[]): Promise<Uint8Array[]> {
  const python = [
    "import base64, json, os, socket, sys, tempfile",
    "payloads = [base64.b64decode(p) for p in json.load(sys.stdin)]",
    "own = tempfile.mkdtemp()",
    "socks = [socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in payloads]",
    "for i, (s, p) in enumerate(zip(socks, payloads)):",
    "    s.bind(os.path.join(own, '%d.sock' % i)); s.settimeout(5)",
    `    s.sendto(p, '${UNIX_DGRAM_PATH}')`,
    "print(json.dumps([base64.b64encode(s.recv(65536)).decode() for s in socks]))",
    "for s in socks: os.unlink(s.getsockname())",
    "os.rmdir(own)",
  ].join("\n");
  const proc = new Proc("python3", ["-c", python], { stdin: true });
  await proc.write(
    JSON.stringify(
      payloads.map((p) => btoa(Array.from(p, (c) => String.fromCharCode(c)).join(""))),
    ),
  );
  const result = await proc.finish();
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as string[]).map((b64) =>
    Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
  );
}

/** Every transport the datagram tests run over. */
export const DATAGRAMS: Datagrams[] = [
  {
    name: "udp",
    listening: "127\\.0\\.0\\.1:\\d+",
    clientLog: "127\\.0\\.0\\.1:\\d+",
    server: { args: [] },
    client: { args: [] },
    exchange: (server, payloads) => Promise.all(payloads.map((p) => udpExchange(server.port, p))),
  },
  {
    name: "unix",
    listening: `unix:${UNIX_DGRAM_PATH.replaceAll(".", "\\.")}`,
    clientLog: "unix:/tmp/tsUclnt-\\w+/client\\.sock",
    // The server replies to each client's own socket file: leave to write where clients bind.
    server: {
      args: ["--unix", UNIX_DGRAM_PATH],
      denoFlags: [`--allow-read=${UNIX_DGRAM_PATH}`, "--allow-write=/tmp", "--allow-sys"],
    },
    // The client binds its own socket in a folder it makes under /tmp.
    client: {
      args: ["--unix", UNIX_DGRAM_PATH],
      denoFlags: ["--allow-read=/tmp", "--allow-write=/tmp"],
    },
    exchange: (_server, payloads) => unixExchange(payloads),
  },
];

/** Runs one of our scripts to the end, with `input` on standard input. */
export function runScript(
  name: string,
  args: string[] = [],
  input?: string | Uint8Array,
  options: SpawnOptions = {},
): Promise<Result> {
  const proc = spawnScript(name, args, { ...options, stdin: input !== undefined });
  return (input === undefined ? Promise.resolve() : proc.write(input)).then(() => proc.finish());
}

/** A server that is up, with the port it reports. Declare it with `await using` to stop it. */
export interface Server extends AsyncDisposable {
  proc: Proc;
  port: number;
  /** Sends `signal` and waits for the exit; later calls give the same result. */
  stop(signal?: Deno.Signal): Promise<Result>;
}

/** Waits until `proc` prints `pattern` (the port in its first group): a server to stop later. */
export async function started(proc: Proc, pattern: RegExp): Promise<Server> {
  let match: RegExpMatchArray;
  try {
    match = await proc.stdout.waitFor(pattern);
  } catch (err) {
    proc.kill("SIGKILL");
    await proc.finish();
    throw err;
  }
  let stopped: Promise<Result> | undefined;
  const stop = (signal: Deno.Signal = "SIGINT") => {
    if (!stopped) {
      try {
        proc.kill(signal);
      } catch {
        // It has exited already; finish() still collects how.
      }
      stopped = proc.finish();
    }
    return stopped;
  };
  return {
    proc,
    port: Number(match[1] ?? 0), // 0 on a Unix socket
    stop,
    // However a test ends, its server does not outlive it.
    async [Symbol.asyncDispose]() {
      await stop("SIGTERM").catch(() => {});
    },
  };
}

/** Starts one of our servers on a free port of `host` and waits until it is listening. */
export function startServer(
  name: string,
  args: string[] = [],
  host = "127.0.0.1",
  options: SpawnOptions = {},
): Promise<Server> {
  const proc = spawnScript(name, ["--host", host, "--port", "0", ...args], options);
  return started(proc, /^waiting for \w+ on (?:unix:.+|.*:(\d+))\.\.\.$/m);
}

/** Starts one of the Python peers' servers on a free port, or on a Unix socket at `path`. */
export function startPeerServer(mode: string, path?: string): Promise<Server> {
  const proc = new Proc("python3", [PEERS, mode, path ?? "0"]);
  return started(proc, /^listening on (?:(\d+)|\/.*)$/m);
}

/** Runs one of the Python peers' clients to the end with `input`; a string `port` is a path. */
export function runPeerClient(
  mode: string,
  port: number | string,
  input: string,
  host = "127.0.0.1",
): Promise<Result> {
  const proc = new Proc("python3", [PEERS, mode, String(port), host], { stdin: true });
  return proc.write(input).then(() => proc.finish());
}

const STAMP = new RegExp(STAMP_SOURCE, "g");

/** A transcript with every stamp replaced by `[STAMP] `, so two runs can be compared. */
export function unstamped(text: string): string {
  return text.replace(STAMP, "[STAMP] ");
}

const IS_ROOT = new TextDecoder().decode(
  (await new Deno.Command("id", { args: ["-u"] }).output()).stdout,
).trim() === "0";

/**
 * For a test that needs root (`unshare`, `setpriv`): without it, the test is skipped, and a line
 * says so and why, rather than failing with an assertion that explains nothing.
 */
export function needsRoot(name: string, why: string): { name: string; ignore: boolean } {
  if (!IS_ROOT) console.warn(`skipping "${name}": it needs root (${why}); CI runs as root`);
  return { name, ignore: !IS_ROOT };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends one datagram to the server and returns the reply, within `ms`. */
export async function udpExchange(
  port: number,
  payload: Uint8Array,
  ms = 5000,
): Promise<Uint8Array> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const timer = setTimeout(() => socket.close(), ms);
  try {
    await socket.send(payload, { transport: "udp", hostname: "127.0.0.1", port });
    const [reply] = await socket.receive();
    return reply;
  } finally {
    clearTimeout(timer);
    try {
      socket.close();
    } catch {
      // closed by the timer
    }
  }
}

/** Connects to a server on loopback. */
export function connect(port: number, hostname = "127.0.0.1"): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname, port });
}

/**
 * Reads from `conn` until `length` bytes have come or the peer closes or resets the connection
 * (a peer that closes with input unread sends a reset); `ms` at most.
 */
export async function readBytes(conn: Deno.Conn, length: number, ms = 5000): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  const deadline = setTimeout(() => conn.close(), ms);
  try {
    while (got < length) {
      const n = await conn.read(out.subarray(got)).catch(endOrThrow);
      if (n === null) break;
      got += n;
    }
  } finally {
    clearTimeout(deadline);
  }
  return out.subarray(0, got);
}

/** A reset, or a TLS peer gone without close_notify, is the end of what it sends. */
function endOrThrow(err: unknown): null {
  if (err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.UnexpectedEof) {
    return null;
  }
  throw err;
}

/** Reads from `conn` until the peer closes; `ms` at most. */
export async function readToEnd(conn: Deno.Conn, ms = 5000): Promise<Uint8Array> {
  let all: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(64 * 1024);
  const deadline = setTimeout(() => conn.close(), ms);
  try {
    while (true) {
      const n = await conn.read(buffer).catch((err) => {
        if (err instanceof Deno.errors.UnexpectedEof) return null; // TLS without close_notify
        throw err;
      });
      if (n === null) break;
      all = concat(all, buffer.slice(0, n));
    }
  } finally {
    clearTimeout(deadline);
  }
  return all;
}

/** Splits a reply into its stamp and its payload, asserting that the stamp is well formed. */
export function splitStamp(reply: Uint8Array): Uint8Array {
  const stamp = decoder.decode(reply.subarray(0, STAMP_LENGTH));
  assert.match(stamp, new RegExp(`^${STAMP_SOURCE}$`));
  return reply.subarray(STAMP_LENGTH);
}

/**
 * Asserts that `reply` is the whole reply to `payload` from a stream server, in one stamped
 * part or several; to nothing sent, that is nothing (the server stamps each read it makes).
 */
export function assertReplyTo(reply: Uint8Array, payload: Uint8Array, message?: string): void {
  if (payload.length === 0) assert.equal(reply.length, 0, message);
  else assert.ok(isWholeReply(reply, payload), message);
}
