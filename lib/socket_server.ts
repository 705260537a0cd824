/**
 * A small TCP server and request handler in the spirit of Python's `socketserver`: the server
 * binds, listens and accepts; for each connection it makes a handler and calls `setup()`, then
 * `handle()`, then `finish()` (always), and closes the connection. Each connection is served
 * concurrently: in Deno, Python's `ThreadingMixIn` is simply not awaiting the handler.
 *
 * @example Usage
 * ```ts ignore
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     await this.write(await this.rfile.readline());
 *   }
 * }
 * const server = new TcpServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * await server.serveForever(stop.signal);
 * ```
 *
 * @module
 */

import { concat, writeAll } from "./io.ts";
import { accepted, formatAddress, isPeerGone, listenTcp } from "./net.ts";
import { Connections, unlessStopped, whenStopped } from "./shutdown.ts";

/** Thrown by {@linkcode LineReader.readline} when the server stops before a line has come. */
export class Stopping extends Error {
  constructor() {
    super("the server is stopping");
    this.name = "Stopping";
  }
}

const NEWLINE = 0x0a;

/** Reads a connection line by line, like the `rfile` of Python's `StreamRequestHandler`. */
export class LineReader {
  #conn: Deno.Conn;
  #signal: AbortSignal;
  #buffer: Uint8Array;
  #pending: Uint8Array = new Uint8Array(0);

  /** Reads `conn` `bufsiz` bytes at a time, until `signal` aborts. */
  constructor(conn: Deno.Conn, bufsiz: number, signal: AbortSignal) {
    this.#conn = conn;
    this.#signal = signal;
    this.#buffer = new Uint8Array(bufsiz);
  }

  /**
   * Returns the next line with its `\n` (and any `\r` before it); at end of input, whatever is
   * left, which may be empty. Bytes read past the line wait for the next call.
   *
   * @throws {Stopping} If the server stops first: no line was read, so no reply is owed.
   */
  async readline(): Promise<Uint8Array> {
    let end: number;
    while ((end = this.#pending.indexOf(NEWLINE)) === -1) {
      const n = await unlessStopped(this.#conn.read(this.#buffer), this.#signal);
      if (this.#signal.aborted) throw new Stopping();
      if (n === null) break; // end of input
      this.#pending = concat(this.#pending, this.#buffer.slice(0, n));
    }
    const lineEnd = end === -1 ? this.#pending.length : end + 1;
    const line = this.#pending.slice(0, lineEnd);
    this.#pending = this.#pending.slice(lineEnd);
    return line;
  }
}

/** Handles one connection. Subclasses override {@linkcode handle}, and may override the rest. */
export abstract class StreamRequestHandler {
  /** The client's connection. */
  readonly request: Deno.TcpConn;
  /** Where the client connects from. */
  readonly clientAddress: Deno.NetAddr;
  /** The server that accepted the connection. */
  readonly server: TcpServer;
  /** The connection's input, a line at a time. */
  readonly rfile: LineReader;

  constructor(request: Deno.TcpConn, server: TcpServer, signal: AbortSignal) {
    this.request = request;
    this.clientAddress = request.remoteAddr;
    this.server = server;
    this.rfile = new LineReader(request, server.bufsiz, signal);
  }

  /** Runs before {@linkcode handle}. */
  setup(): void | Promise<void> {}

  /** Serves the request: everything between accepting the connection and closing it. */
  abstract handle(): Promise<void>;

  /** Runs after {@linkcode handle}, even when it failed. */
  finish(): void | Promise<void> {}

  /** Sends all of `data` to the client, like `wfile.write()`. */
  write(data: Uint8Array): Promise<void> {
    return writeAll(this.request, data);
  }
}

/** A handler class, as the server takes it. */
export type HandlerClass = new (
  request: Deno.TcpConn,
  server: TcpServer,
  signal: AbortSignal,
) => StreamRequestHandler;

/** Where to listen, and how much to read at a time. */
export interface ServerOptions {
  hostname: string;
  port: number;
  /** Bytes per read (default 1024). */
  bufsiz?: number;
  /** Log no line when a client merely goes away. */
  quiet?: boolean;
}

/** Binds, listens, and serves every connection with a new handler. */
export class TcpServer {
  /** The listening socket. */
  readonly listener: Deno.TcpListener;
  /** Bytes per read, for the handlers' line readers. */
  readonly bufsiz: number;
  /** Whether to keep quiet about clients that merely go away. */
  readonly quiet: boolean;
  #Handler: HandlerClass;
  #connections = new Connections();

  /** Binds and listens at once, like Python's `TCPServer(address, Handler)`. */
  constructor(options: ServerOptions, Handler: HandlerClass) {
    this.listener = listenTcp(options.hostname, options.port);
    this.bufsiz = options.bufsiz ?? 1024;
    this.quiet = options.quiet ?? false;
    this.#Handler = Handler;
  }

  /** The bound address; with port 0, this is where to learn the port. */
  get address(): Deno.NetAddr {
    return this.listener.addr;
  }

  /**
   * Accepts and serves connections until `signal` aborts; then stops accepting, lets replies in
   * flight go out, closes every connection and closes the listener.
   */
  async serveForever(signal: AbortSignal): Promise<void> {
    whenStopped(signal, () => this.listener.close());
    for await (const conn of accepted(this.listener)) {
      this.#connections.add(conn, this.#processRequest(conn as Deno.TcpConn, signal));
    }
    await this.#connections.drain();
  }

  /** Logs a handler's failure; the server goes on. Override to report it elsewhere. */
  handleError(err: unknown, handler: StreamRequestHandler): void {
    if (this.quiet && isPeerGone(err)) return;
    const client = formatAddress(handler.clientAddress);
    console.error(`...error serving ${client}: ${err instanceof Error ? err.message : err}`);
  }

  async #processRequest(conn: Deno.TcpConn, signal: AbortSignal): Promise<void> {
    using _closed = conn; // closed on the way out, however it goes
    const handler = new this.#Handler(conn, this, signal);
    try {
      await handler.setup();
      try {
        await handler.handle();
      } finally {
        await handler.finish();
      }
    } catch (err) {
      if (!(err instanceof Stopping)) this.handleError(err, handler);
    }
  }
}
