/**
 * Servers and request handlers after Python's `socketserver`. A server binds, then for each
 * request makes a handler and calls `setup()`, `handle()`, then `finish()` (always). Here are
 * `BaseRequestHandler`, `StreamRequestHandler` and {@linkcode StreamServer}, Python's
 * `TCPServer` and `UnixStreamServer`; `datagram_server.ts` has the UDP pair. `ThreadingMixIn` is
 * what both servers do anyway: a handler is not awaited before the next request is taken.
 *
 * Unlike Python's, a stream server bounds a line's length (`maxLine`) and time
 * (`lineTimeoutMs`), ends idle connections, caps connections at once (`maxConns`), and a
 * handler that throws costs only its own request. `tsTservSS.ts` shows it in use.
 *
 * @module
 */

import {
  accepted,
  Connections,
  type ConnectionsOptions,
  isPeerGone,
  type Session,
  type Stream,
  type StreamListener,
} from "./connections.ts";
import { attempt, loadExtra } from "./errors.ts";
import { formatAddress } from "./net.ts";
import type { StreamAddress } from "./addresses.ts";
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
  bufsiz?: number; // bytes per read (1024)
  maxLine?: number; // the longest line taken, its newline included (64 KiB)
  lineTimeoutMs?: number; // from a line's first byte to its newline, 0 for ever (0)
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

/**
 * Handles one request, Python's `BaseRequestHandler`: the server makes one per request and
 * calls {@linkcode setup}, {@linkcode handle}, then {@linkcode finish}.
 */
export abstract class BaseRequestHandler<Request, Server> {
  /** The request (a connection, or a datagram's bytes), where its client is, and the server. */
  constructor(
    readonly request: Request,
    readonly clientAddress: Deno.Addr,
    readonly server: Server,
  ) {}

  /** Runs before {@linkcode handle}. */
  setup(): void | Promise<void> {}
  /** Serves the request. */
  abstract handle(): Promise<void>;
  /** Runs after {@linkcode handle}, even when it failed. */
  finish(): void | Promise<void> {}
}

/** Handles one connection: reads it a line at a time (`rfile`), and writes to it. */
export abstract class StreamRequestHandler extends BaseRequestHandler<Stream, StreamServer> {
  /** The connection's input, a line at a time. */
  readonly rfile: LineReader;
  #session: Session;

  constructor(session: Session, server: StreamServer) {
    super(session.conn, session.conn.remoteAddr, server);
    this.#session = session;
    this.rfile = new LineReader(session, server.options);
  }

  /** Sends all of `data` to the client, like `wfile.write()`. */
  write(data: Uint8Array): Promise<void> {
    return this.#session.write(data);
  }
}

/** Runs a handler's `setup()`, `handle()` and, always, `finish()`. */
export async function run(handler: BaseRequestHandler<unknown, unknown>): Promise<void> {
  await handler.setup();
  try {
    await handler.handle();
  } finally {
    await handler.finish();
  }
}

/** Where a server writes: `console`, or a worker's own, whose lines say which worker it is. */
export interface Console {
  log(line: string): void;
  error(line: string): void;
}

/** What both servers share: Python's `BaseServer` hooks, and the log. */
export abstract class BaseServer<Handler extends BaseRequestHandler<unknown, unknown>> {
  readonly log?: (line: string) => void; // a line per request, from handlers: none with `quiet`
  readonly warn: (line: string) => void; // what concerns the server, whatever `quiet` is

  constructor(options: { quiet?: boolean; console?: Console }) {
    const out = options.console ?? console;
    this.log = options.quiet ? undefined : (line) => out.log(line);
    this.warn = (line) => out.error(line);
  }

  /**
   * Whether to serve a request from `address` at all, before a handler is made: a refused
   * connection is closed at once, a refused datagram dropped. Override it to refuse some.
   */
  verifyRequest(_address: Deno.Addr): boolean {
    return true;
  }

  /** Logs a handler's failure; the server goes on. Override to report it elsewhere. */
  handleError(err: unknown, handler: Handler): void {
    const client = formatAddress(handler.clientAddress);
    this.warn(`...closing ${client}: ${err instanceof Error ? err.message : err}`);
  }
}

/** A stream handler class, as the server takes it. */
export type StreamHandlerClass = new (
  session: Session,
  server: StreamServer,
) => StreamRequestHandler;

/** Where a stream server listens, how it reads, and when it gives up on a client. */
export interface StreamServerOptions extends LineOptions {
  address: StreamAddress; // all but plain TCP are served by `lib/extras/`
  idleTimeoutMs?: number; // close a connection after this long without a byte moving (0: never)
  maxConns?: number; // the most connections at once; beyond, new ones are closed (10,000)
  quiet?: boolean; // log no line per connection, nor when a client merely goes away
  console?: Console; // where to write (`console`)
}

/**
 * Listens on TCP or a Unix socket (Python's `TCPServer` and `UnixStreamServer`), and serves
 * every connection with a new handler; the connection is closed after the handler.
 */
export class StreamServer extends BaseServer<StreamRequestHandler> {
  #Handler: StreamHandlerClass;
  #connections: Connections;

  /** `socket()` + `bind()` + `listen()`, then the server: Python's `TCPServer(address, Handler)`. */
  static async listen(
    options: StreamServerOptions,
    Handler: StreamHandlerClass,
  ): Promise<StreamServer> {
    const { address } = options;
    if (!("path" in address) && !address.tls && !address.reusePort) {
      const listener = attempt("listen on", address, () => Deno.listen(address));
      return new StreamServer(listener, options, Handler);
    }
    // TLS, a Unix socket, a shared port: the extras.
    const asked = "path" in address ? "--unix" : address.tls ? "--tls-cert" : "--workers";
    const extras = await loadExtra(asked, () => import("./extras/transport.ts"));
    const { listener, handshake } = await extras.listenAt(address);
    return new StreamServer(listener, options, Handler, handshake);
  }

  /**
   * A server on a listener made already; `handshake`, given the log, makes what to do first
   * with each connection (a TLS handshake).
   */
  constructor(
    readonly listener: StreamListener,
    readonly options: Readonly<StreamServerOptions>,
    Handler: StreamHandlerClass,
    handshake?: (log?: (line: string) => void) => ConnectionsOptions["handshake"],
  ) {
    super(options);
    this.#Handler = Handler;
    this.#connections = new Connections({
      ...options,
      handshake: handshake?.(this.log),
      log: this.log,
      warn: this.warn,
    });
  }

  /** The bound address; with port 0, this is where to learn the port. */
  get address(): Deno.Addr {
    return this.listener.addr;
  }

  /** Accepts and serves connections until `signal` aborts; then it closes the listener. */
  async serveForever(signal: AbortSignal): Promise<void> {
    whenStopped(signal, () => this.listener.close());
    for await (const conn of accepted(this.listener, this.warn)) {
      if (!this.verifyRequest(conn.remoteAddr)) {
        conn.close();
        continue;
      }
      this.#connections.serve(conn, (session) => this.#process(session));
    }
  }

  /** Ends every connection once its reply is out, then what is left: `Connections.shutdown`. */
  shutdown(deadlineMs?: number): Promise<void> {
    return this.#connections.shutdown(deadlineMs);
  }

  /** A client merely gone is routine: with `quiet`, not worth a line. */
  override handleError(err: unknown, handler: StreamRequestHandler): void {
    if (this.options.quiet && isPeerGone(err)) return;
    super.handleError(err, handler);
  }

  async #process(session: Session): Promise<void> {
    const handler = new this.#Handler(session, this);
    try {
      await run(handler);
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
