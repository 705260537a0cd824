/**
 * Servers and request handlers after Python's `socketserver`. A server binds, then for each
 * request (a connection, or a datagram) makes a handler and calls `setup()`, `handle()`, then
 * `finish()` (always). Python's table, here:
 *
 * - `TCPServer`, `UnixStreamServer`: {@linkcode StreamServer}, given a host and port or a path;
 * - `UDPServer`, `UnixDatagramServer`: {@linkcode DatagramServer}, the same;
 * - `BaseRequestHandler`, `StreamRequestHandler`, `DatagramRequestHandler`: the same names;
 * - `ThreadingMixIn`: what both servers do anyway. One event loop serves every request at once,
 *   because a handler is not awaited before the next request is taken.
 *
 * Unlike Python's, a stream server bounds a line's length (`maxLine`) and time
 * (`lineTimeoutMs`), ends idle connections, caps connections at once (`maxConns`), and a
 * handler that throws costs only its own request.
 *
 * @example Usage
 * ```ts ignore
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     await this.write(await this.rfile.readline());
 *   }
 * }
 * const server = await StreamServer.listen({ address: { hostname: "127.0.0.1", port: 0 } }, Echo);
 * await server.serveForever(stop.signal); // until the stop
 * await server.shutdown(); // end every connection after its reply
 * ```
 *
 * @module
 */

import { Connections, type Session, type Stream } from "./connections.ts";
import { cannotReply, Replies } from "./datagrams.ts";
import { attempt, loadExtra } from "./errors.ts";
import {
  accepted,
  type DatagramAddress,
  formatAddress,
  isPeerGone,
  isPlainTcp,
  type StreamAddress,
} from "./net.ts";
import { whenStopped } from "./shutdown.ts";

/** What a stream server does first with each connection, given a deadline and the log: TLS's. */
type Handshake = (
  timeoutMs: number,
  log?: (line: string) => void,
) => ((session: Session) => Promise<boolean>) | undefined;

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

/**
 * Handles one request, Python's `BaseRequestHandler`: the server makes one per request and
 * calls {@linkcode setup}, {@linkcode handle}, then {@linkcode finish}.
 */
export abstract class BaseRequestHandler<Request, Server> {
  /** The request: a connection, or a datagram's bytes. */
  readonly request: Request;
  /** Where the client is. */
  readonly clientAddress: Deno.Addr;
  /** The server that took the request. */
  readonly server: Server;

  constructor(request: Request, clientAddress: Deno.Addr, server: Server) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

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

/** Handles one datagram: its bytes are {@linkcode packet}; {@linkcode write} answers its sender. */
export abstract class DatagramRequestHandler
  extends BaseRequestHandler<Uint8Array, DatagramServer> {
  /** The datagram's bytes, cut to the server's `bufsiz`, as `recvfrom()` cuts them. */
  get packet(): Uint8Array {
    return this.request;
  }

  /** Sends `data` to the datagram's sender, in one datagram, like `sendto()`. */
  async write(data: Uint8Array): Promise<void> {
    await this.server.socket.send(data, this.clientAddress);
  }
}

/** Runs a handler's `setup()`, `handle()` and, always, `finish()`. */
async function run(handler: BaseRequestHandler<unknown, unknown>): Promise<void> {
  await handler.setup();
  try {
    await handler.handle();
  } finally {
    await handler.finish();
  }
}

/** Where a server writes: `console`, or a worker's own (its lines say which worker). */
export interface Console {
  log(line: string): void;
  error(line: string): void;
}

/** What both servers share: Python's `BaseServer` hooks, and the log. */
abstract class BaseServer<Handler extends BaseRequestHandler<unknown, unknown>> {
  /** Where handlers log a line per request: nowhere with `quiet`. */
  readonly log?: (line: string) => void;
  /** Where the server says what concerns it, whatever `quiet` is. */
  readonly warn: (line: string) => void;

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
  /**
   * A host and port (TCP, with TLS given a certificate and key; a shared port), or a Unix
   * socket's path and its file's mode. All but plain TCP are served by `lib/extras/`.
   */
  address: StreamAddress;
  /** Close a TLS connection not set up this long after it is accepted (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Close a connection after this long without a byte moving, 0 for never (default 0). */
  idleTimeoutMs?: number;
  /** The most connections at once; beyond it, new ones are closed at once (default 10,000). */
  maxConns?: number;
  /** Log no line per connection, nor when a client merely goes away. */
  quiet?: boolean;
  /** Where to write (default `console`). */
  console?: Console;
}

/**
 * Listens on TCP or a Unix socket (Python's `TCPServer` and `UnixStreamServer`), and serves
 * every connection with a new handler; the connection is closed after the handler.
 */
export class StreamServer extends BaseServer<StreamRequestHandler> {
  /** The listening socket. */
  readonly listener: Deno.Listener<Stream>;
  /** How the server was made: for the handlers' line readers, say. */
  readonly options: Readonly<StreamServerOptions>;
  #Handler: StreamHandlerClass;
  #connections: Connections;

  /** `socket()` + `bind()` + `listen()`, then the server: Python's `TCPServer(address, Handler)`. */
  static async listen(
    options: StreamServerOptions,
    Handler: StreamHandlerClass,
  ): Promise<StreamServer> {
    const { address } = options;
    if (isPlainTcp(address) && "port" in address) {
      const listener = attempt("listen on", address, () => Deno.listen(address));
      return new StreamServer(listener, options, Handler);
    }
    const asked = "path" in address ? "--unix" : address.tls ? "--tls-cert" : "--workers";
    const extras = await loadExtra(asked, () => import("./extras/transport.ts"));
    const { listener, handshake } = await extras.listenAt(address);
    return new StreamServer(listener, options, Handler, handshake);
  }

  /**
   * A server on a listener made already; `handshake` is what to do first with each connection
   * (TLS's, given `handshakeTimeoutMs` and the log).
   */
  constructor(
    listener: Deno.Listener<Stream>,
    options: StreamServerOptions,
    Handler: StreamHandlerClass,
    handshake?: Handshake,
  ) {
    super(options);
    this.listener = listener;
    this.options = options;
    this.#Handler = Handler;
    this.#connections = new Connections({
      ...options,
      handshake: handshake?.(options.handshakeTimeoutMs ?? 10_000, this.log),
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

  /**
   * Ends every connection politely once its reply is out, waits for them (`deadlineMs` at
   * most), then closes what is left: see {@linkcode Connections.shutdown}.
   */
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

/** A datagram handler class, as the server takes it. */
export type DatagramHandlerClass = new (
  packet: Uint8Array,
  clientAddress: Deno.Addr,
  server: DatagramServer,
) => DatagramRequestHandler;

/** Where a datagram server listens, and how much of a datagram it takes. */
export interface DatagramServerOptions {
  /** A host and port (UDP), or a Unix datagram socket's path and its file's mode (an extra). */
  address: DatagramAddress;
  /** The most bytes of a datagram a handler sees; the rest is cut (default 8,192, Python's). */
  bufsiz?: number;
  /** Log no line per datagram. */
  quiet?: boolean;
  /** Where to write (default `console`). */
  console?: Console;
}

/**
 * Binds a UDP or Unix datagram socket (Python's `UDPServer` and `UnixDatagramServer`; needs
 * `--unstable-net`) and serves every datagram with a new handler: over UDP, many at once.
 */
export class DatagramServer extends BaseServer<DatagramRequestHandler> {
  /** The bound socket; handlers answer on it. */
  readonly socket: Deno.DatagramConn;
  readonly options: Readonly<DatagramServerOptions>;
  #Handler: DatagramHandlerClass;
  #replies?: Replies;

  /** `socket()` + `bind()`, then the server: Python's `UDPServer(address, Handler)`. */
  static async listen(
    options: DatagramServerOptions,
    Handler: DatagramHandlerClass,
  ): Promise<DatagramServer> {
    const { address } = options;
    const socket = "path" in address
      ? await (await loadExtra("--unix", () => import("./extras/transport.ts")))
        .listenDatagram(address)
      : attempt("listen on", address, () => Deno.listenDatagram({ ...address, transport: "udp" }));
    return new DatagramServer(socket, options, Handler);
  }

  /** A server on a socket bound already. */
  constructor(
    socket: Deno.DatagramConn,
    options: DatagramServerOptions,
    Handler: DatagramHandlerClass,
  ) {
    super(options);
    this.socket = socket;
    this.options = options;
    this.#Handler = Handler;
  }

  /** The bound address; with port 0, this is where to learn the port. */
  get address(): Deno.Addr {
    return this.socket.addr;
  }

  /**
   * Receives datagrams and serves each with a new handler, without waiting for it, until
   * `signal` aborts; the socket is then closed once the replies in flight are out.
   */
  async serveForever(signal: AbortSignal): Promise<void> {
    const buffer = new Uint8Array(this.options.bufsiz ?? 8192);
    // Deno cannot send on a Unix datagram socket while a receive() waits on it ("Socket
    // already in use"): there, each datagram is served before the next is taken, as Python's
    // plain UDPServer does.
    const oneAtATime = this.socket.addr.transport === "unixpacket";
    const replies = this.#replies = new Replies(this.socket, signal, this.warn);
    while (!signal.aborted) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await this.socket.receive(buffer);
      } catch (err) {
        if (replies.ended(err)) break;
        continue;
      }
      if (signal.aborted) break; // the stop closed the socket just as this came
      const [data, client] = received;
      if (!this.verifyRequest(client)) continue;
      // The buffer is reused for the next datagram while this one is served: copy it.
      const handler = new this.#Handler(data.slice(), client, this);
      const served = replies.track(run(handler)).catch((err) => this.handleError(err, handler));
      if (oneAtATime) await served;
    }
  }

  /** Waits for the replies in flight (`SHUTDOWN_DEADLINE_MS` at most), then closes the socket. */
  async shutdown(): Promise<void> {
    await (this.#replies ??= new Replies(this.socket, AbortSignal.abort())).close();
  }

  /** A reply that could not be sent concerns its sender only. */
  override handleError(err: unknown, handler: DatagramRequestHandler): void {
    this.warn(cannotReply(err, handler.clientAddress));
  }
}
