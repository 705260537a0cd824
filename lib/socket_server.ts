/**
 * A TCP server and request handler after Python's `socketserver`: the server binds, listens and
 * accepts; for each connection it makes a handler and calls `setup()`, `handle()`, then
 * `finish()` (always), and closes the connection. Connections are served at once: in Deno,
 * Python's `ThreadingMixIn` is simply not awaiting the handler. Unlike Python's, it bounds a
 * line's length (`maxLine`) and time (`lineTimeoutMs`), ends idle connections, and a handler
 * that throws costs only its own connection.
 *
 * @example Usage
 * ```ts ignore
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     await this.write(await this.rfile.readline());
 *   }
 * }
 * const server = new TcpServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * await server.serveForever(stop.signal); // until the stop closes the listener
 * await server.shutdown(); // end every connection after its reply
 * ```
 *
 * @module
 */

import { Connections, type Session, type Stream } from "./connections.ts";
import { accepted, formatAddress, isPeerGone, listenTcp } from "./net.ts";
import { type Identity, listenTls } from "./tls.ts";
import { whenStopped } from "./shutdown.ts";

/** The server ended the connection before a whole line came: no reply is owed. */
export class Ended extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "Ended";
  }
}

/** Thrown by {@linkcode LineReader.readline} for a line longer than the reader takes. */
export class LineTooLong extends Error {
  constructor(maxLine: number) {
    super(`line longer than ${maxLine} bytes`);
    this.name = "LineTooLong";
  }
}

const NEWLINE = 0x0a;

/** How a {@linkcode LineReader} reads. */
export interface LineOptions {
  /** Bytes per read (default 1024). */
  bufsiz?: number;
  /** The longest line taken, its newline included (default 64 KiB). */
  maxLine?: number;
  /** How long a line may take from its first byte to its newline, 0 for ever (default 0). */
  lineTimeoutMs?: number;
}

/**
 * Reads a connection line by line, like the `rfile` of Python's `StreamRequestHandler`, with a
 * bound on a line's length (memory stays bounded) and on its time (a client trickling a byte
 * at a time cannot hold a connection for ever).
 */
export class LineReader {
  #session: Session;
  #bufsiz: number;
  #maxLine: number;
  #lineTimeoutMs: number;
  /** Bytes read and not yet returned are `#data[#start, #end)`; it grows as lines need. */
  #data: Uint8Array;
  #start = 0;
  #end = 0;
  #lineBegun = false;

  constructor(session: Session, options: LineOptions = {}) {
    this.#session = session;
    this.#bufsiz = options.bufsiz ?? 1024;
    this.#maxLine = options.maxLine ?? 64 * 1024;
    this.#lineTimeoutMs = options.lineTimeoutMs ?? 0;
    this.#data = new Uint8Array(this.#bufsiz);
  }

  /**
   * Returns the next line with its `\n` (and any `\r` before it); at end of input, whatever is
   * left, which may be empty. Bytes read past the line wait for the next call.
   *
   * @throws {LineTooLong} If the line is longer than `maxLine`.
   * @throws {Ended} If the server ends the connection first.
   */
  async readline(): Promise<Uint8Array> {
    let searched = this.#start; // no newline before here
    while (true) {
      const newline = this.#data.subarray(searched, this.#end).indexOf(NEWLINE);
      const lineEnd = newline === -1 ? -1 : searched + newline + 1;
      if (lineEnd !== -1 || this.#end - this.#start >= this.#maxLine) {
        if (lineEnd === -1 || lineEnd - this.#start > this.#maxLine) {
          throw new LineTooLong(this.#maxLine);
        }
        return this.#take(lineEnd);
      }
      if (this.#end > this.#start && !this.#lineBegun && this.#lineTimeoutMs > 0) {
        this.#lineBegun = true; // from now on the line's clock runs
        const seconds = this.#lineTimeoutMs / 1000;
        this.#session.setDeadline(this.#lineTimeoutMs, `no whole line within ${seconds} s`);
      }
      this.#makeRoom();
      searched = this.#end; // all that is buffered has been searched
      const n = await this.#session.read(this.#data.subarray(this.#end, this.#end + this.#bufsiz));
      if (n === null) {
        if (this.#session.endedFor !== null) throw new Ended(this.#session.endedFor);
        return this.#take(this.#end); // end of input
      }
      this.#end += n;
    }
  }

  #take(lineEnd: number): Uint8Array {
    const line = this.#data.slice(this.#start, lineEnd);
    this.#start = lineEnd;
    if (this.#lineBegun) this.#session.clearDeadline();
    this.#lineBegun = false;
    return line;
  }

  /** Makes room for one more read at the end: drops the lines already returned, or grows. */
  #makeRoom(): void {
    if (this.#data.length - this.#end >= this.#bufsiz) return;
    const unread = this.#end - this.#start; // less than maxLine, or readline() has thrown
    if (this.#data.length - unread >= this.#bufsiz) {
      this.#data.copyWithin(0, this.#start, this.#end);
    } else {
      const size = Math.max(
        unread + this.#bufsiz,
        Math.min(2 * this.#data.length, this.#maxLine + this.#bufsiz),
      );
      const grown = new Uint8Array(size);
      grown.set(this.#data.subarray(this.#start, this.#end));
      this.#data = grown;
    }
    this.#start = 0;
    this.#end = unread;
  }
}

/** Handles one connection. Subclasses override {@linkcode handle}, and may override the rest. */
export abstract class StreamRequestHandler {
  /** The client's connection. */
  readonly request: Stream;
  /** Where the client connects from. */
  readonly clientAddress: Deno.Addr;
  /** The server that accepted the connection. */
  readonly server: TcpServer;
  /** The connection's input, a line at a time. */
  readonly rfile: LineReader;
  #session: Session;

  constructor(session: Session, server: TcpServer) {
    this.#session = session;
    this.request = session.conn;
    this.clientAddress = this.request.remoteAddr;
    this.server = server;
    this.rfile = new LineReader(session, server.options);
  }

  /** Runs before {@linkcode handle}. */
  setup(): void | Promise<void> {}

  /** Serves the request: everything between accepting the connection and closing it. */
  abstract handle(): Promise<void>;

  /** Runs after {@linkcode handle}, even when it failed. */
  finish(): void | Promise<void> {}

  /** Sends all of `data` to the client, like `wfile.write()`. */
  write(data: Uint8Array): Promise<void> {
    return this.#session.write(data);
  }
}

/** A handler class, as the server takes it. */
export type HandlerClass = new (session: Session, server: TcpServer) => StreamRequestHandler;

/** Where to listen, how to read, and when to give up on a client. */
export interface ServerOptions extends LineOptions {
  hostname: string;
  port: number;
  /** Close a connection after this long without a byte moving, 0 for never (default 0). */
  idleTimeoutMs?: number;
  /** Serve TLS with this certificate and key; `handshakeTimeoutMs` bounds each handshake. */
  tls?: Identity;
  /** A listener made already (a Unix socket's, say), instead of one on `hostname` and `port`. */
  listener?: Deno.Listener<Stream>;
  handshakeTimeoutMs?: number;
  /** Log no line per connection, nor when a client merely goes away. */
  quiet?: boolean;
}

/** Binds, listens, and serves every connection with a new handler. */
export class TcpServer {
  /** The listening socket. */
  readonly listener: Deno.Listener<Stream>;
  /** How the server was made: for the handlers' line readers, say. */
  readonly options: Readonly<ServerOptions>;
  /** Where handlers log a line per connection: nowhere with `quiet`. */
  readonly log?: (line: string) => void;
  #Handler: HandlerClass;
  #connections: Connections;

  /** Binds and listens at once, like Python's `TCPServer(address, Handler)`. */
  constructor(options: ServerOptions, Handler: HandlerClass) {
    const { hostname, port, tls } = options;
    this.listener = options.listener ??
      (tls ? listenTls(hostname, port, tls) : listenTcp(hostname, port));
    this.options = options;
    this.log = options.quiet ? undefined : console.log;
    this.#Handler = Handler;
    this.#connections = new Connections({ ...options, log: this.log });
  }

  /** The bound address; with port 0, this is where to learn the port. */
  get address(): Deno.Addr {
    return this.listener.addr;
  }

  /** Accepts and serves connections until `signal` aborts; then it closes the listener. */
  async serveForever(signal: AbortSignal): Promise<void> {
    whenStopped(signal, () => this.listener.close());
    for await (const conn of accepted(this.listener)) {
      this.#connections.serve(conn, (session) => this.#processRequest(session));
    }
  }

  /**
   * Ends every connection politely once its reply is out, waits for them (`deadlineMs` at
   * most), then closes what is left: see {@linkcode Connections.shutdown}.
   */
  shutdown(deadlineMs?: number): Promise<void> {
    return this.#connections.shutdown(deadlineMs);
  }

  /**
   * Logs a handler's failure; the server closes that connection and goes on. Override to
   * report it elsewhere.
   */
  handleError(err: unknown, handler: StreamRequestHandler): void {
    if (this.options.quiet && isPeerGone(err)) return;
    const client = formatAddress(handler.clientAddress);
    console.error(`...closing ${client}: ${err instanceof Error ? err.message : err}`);
  }

  async #processRequest(session: Session): Promise<void> {
    const handler = new this.#Handler(session, this);
    try {
      await handler.setup();
      try {
        await handler.handle();
      } finally {
        await handler.finish();
      }
    } catch (err) {
      if (err instanceof Ended) return; // the server ended it before a line came: no reply owed
      if (session.endedFor !== null && isPeerGone(err)) {
        this.log?.(`...${formatAddress(handler.clientAddress)} cut off: ${session.endedFor}`);
        return;
      }
      // A client that misbehaved or went away: no reply is owed, so close without reading more.
      this.handleError(err, handler);
      session.abort();
    }
  }
}
