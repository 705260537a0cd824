/**
 * Servers and request handlers after Python's `socketserver`. A server binds, then for each
 * request makes a handler and calls `setup()`, `handle()`, then `finish()` (always). Here are
 * `BaseRequestHandler`, `StreamRequestHandler` and {@linkcode StreamServer}, Python's
 * `TCPServer` and `UnixStreamServer`; `datagram_server.ts` has the UDP pair. `ThreadingMixIn` is
 * what both servers do anyway: a handler is not awaited before the next request is taken.
 *
 * Unlike Python's, a stream server bounds a line's length (`maxLine`) and time
 * (`lineTimeoutMs`), and what all unfinished lines hold together (`lineBudget`); it ends idle
 * connections, caps connections at once (`maxConns`), and a handler that throws costs only its
 * own request. `tsTservSS.ts` shows it in use.
 *
 * @module
 */

import {
  acceptor,
  Connections,
  type ConnectionsOptions,
  isPeerGone,
  type Session,
  type Stream,
  type StreamListener,
  whenStopped,
} from "./connections.ts";
import { attempt } from "../lib/cli.ts";
import { formatAddress } from "../lib/command.ts";
import type { StreamAddress } from "./addresses.ts";
import { Throttled } from "./throttled.ts";

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
const MiB = 1 << 20;
const MAX_KEPT = 256; // read buffers kept for the next connections
const SLAB = 32 * MiB; // malloc maps this apart: pages count once written, and go back on free
const NO_BYTES = new Uint8Array(0);

/** How a {@linkcode LineReader} reads. */
export interface LineOptions {
  bufsiz?: number; // bytes per read (1024), unless a long line borrows a bigger buffer
  maxLine?: number; // the longest line taken, its newline included (64 KiB)
  lineTimeoutMs?: number; // from a line's first byte to its newline, 0 for ever (0)
}

/** The size of the buffer a line longer than a read needs: the longest line, and a read. */
function longLineBuffer(options: LineOptions): number {
  return (options.maxLine ?? 64 * 1024) + (options.bufsiz ?? 1024);
}

/** What a stream server's unfinished lines may hold in all, unless told otherwise. */
export const LINE_BUDGET = 64 * MiB;

/**
 * The memory that all of a server's connections may hold in lines not yet whole. `maxLine`
 * bounds one connection only: 10,000 clients each sending just under it would hold 640 MiB. A
 * line longer than a read borrows a buffer for a whole line from here, and gives it back once
 * done; past the budget, the connection holding the most is closed and its buffer lent again.
 * Buffers are cut from slabs mapped apart from malloc's heap (`SLAB`), all freed once all are back.
 */
export class LineBudget {
  /** Who holds a buffer, and how many bytes of a line are in it. */
  #lent = new Map<Session, number>();
  #free: Uint8Array[] = [];
  #waiting: ((buffer: Uint8Array) => void)[] = []; // for the buffer of one closed for them
  #reads: Uint8Array[] = []; // a read's worth each, given back by connections that are done
  #buffers: number; // the most buffers out at once, or kept
  #cut: Throttled; // connections closed over the budget, said at most once a second

  /** `bytes` for all, in buffers of `size`; a line past the budget is said on `warn`. */
  constructor(
    readonly bytes: number,
    readonly size: number,
    readonly warn: (line: string) => void = (line) => console.error(line),
  ) {
    this.#buffers = Math.max(1, Math.floor(bytes / size));
    this.#cut = new Throttled(warn);
  }

  /**
   * Lends `session` a buffer. If all are out, it closes the session holding the most and waits
   * for that one's buffer, so that buffers are never more than the budget.
   */
  lend(session: Session): Promise<Uint8Array> {
    if (this.#lent.size < this.#buffers) {
      this.#lent.set(session, 0);
      const { size } = this; // a buffer not lent, or the first of a new slab
      const count = Math.max(1, Math.min(this.#buffers, Math.floor(SLAB / size)));
      const slab = this.#free.length === 0 ? new ArrayBuffer(count * size) : undefined;
      for (let i = 0; slab && i < count; i++) this.#free.push(new Uint8Array(slab, i * size, size));
      return Promise.resolve(this.#free.pop()!);
    }
    const [biggest] = [...this.#lent].reduce((most, held) => held[1] > most[1] ? held : most);
    this.#lent.delete(biggest);
    // No reply is owed for a line not whole: close at once; its read fails, its buffer is ours.
    biggest.end("unfinished lines passed their budget");
    biggest.abort();
    this.#cut.note((count) => {
      const closed = `${count} connection${count === 1 ? "" : "s"}`;
      const budget = `${Math.round(this.bytes / MiB)} MiB`;
      return `...unfinished lines passed their budget (${budget}): closed ${closed} holding the most`;
    });
    this.#lent.set(session, 0);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Says how many bytes of a line `session` holds in its buffer. */
  hold(session: Session, bytes: number): void {
    if (this.#lent.has(session)) this.#lent.set(session, bytes);
  }

  /** A read's worth for a connection, until given back: kept ones are lent again, not zeroed. */
  readBuffer(bytes: number): Uint8Array {
    const kept = this.#reads.pop();
    return kept?.length === bytes ? kept : new Uint8Array(bytes);
  }
  /** Takes back a buffer from {@linkcode readBuffer}; past `MAX_KEPT`, it is left to the GC. */
  giveBackRead(buffer: Uint8Array): void {
    if (this.#reads.length < MAX_KEPT) this.#reads.push(buffer);
  }

  /** Takes back the buffer lent to `session`, for the next long line. */
  giveBack(session: Session, buffer: Uint8Array): void {
    this.#lent.delete(session);
    if (this.#waiting.length > 0) return this.#waiting.shift()!(buffer); // one closed for them
    this.#free.push(buffer);
    if (this.#lent.size > 0) return; // all back: their slabs are freed now, not by a GC
    for (const { buffer } of this.#free.splice(0)) {
      if (buffer.byteLength) (buffer as ArrayBuffer).transfer(0);
    }
  }
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
  #budget: LineBudget;
  /** Bytes read and not yet returned are `#data[#start, #end)`: `#own`, or a borrowed buffer. */
  #data: Uint8Array;
  #own: Uint8Array; // a read's worth: most lines fit
  #start = 0;
  #end = 0;
  #lineBegun = false;

  /** A line longer than a read borrows from `budget` (by default, one of its own). */
  constructor(session: Session, options: LineOptions = {}, budget?: LineBudget) {
    this.#session = session;
    this.#bufsiz = options.bufsiz ?? 1024;
    this.#maxLine = options.maxLine ?? 64 * 1024;
    this.#lineTimeoutMs = options.lineTimeoutMs ?? 0;
    this.#budget = budget ?? new LineBudget(Infinity, longLineBuffer(options));
    this.#data = this.#own = this.#budget.readBuffer(this.#bufsiz);
  }

  /** Gives back its buffers: call it once the connection is done, and read no more. */
  close(): void {
    this.#release();
    this.#budget.giveBackRead(this.#own);
    this.#own = this.#data = NO_BYTES;
  }

  /** Gives back a borrowed buffer, to read into its own again. */
  #release(end = 0): void {
    if (this.#data !== this.#own) this.#budget.giveBack(this.#session, this.#data);
    this.#data = this.#own;
    [this.#start, this.#end] = [0, end];
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
      await this.#makeRoom();
      searched = this.#end; // all that is buffered has been searched
      const n = await this.#session.read(this.#data.subarray(this.#end)); // or a long line's room
      if (n === null) {
        if (this.#session.endedFor !== null) throw new Ended(this.#session.endedFor);
        return this.#take(this.#end); // end of input
      }
      this.#end += n;
      if (this.#data !== this.#own) this.#budget.hold(this.#session, this.#end - this.#start);
    }
  }

  #take(lineEnd: number): Uint8Array {
    const line = this.#data.slice(this.#start, lineEnd);
    this.#start = lineEnd;
    if (this.#data !== this.#own) { // a long line is done: back to a read's worth
      const rest = this.#data.subarray(lineEnd, this.#end); // less than the read that ended it
      this.#own.set(rest);
      this.#release(rest.length); // may free what `rest` views
    }
    if (this.#lineBegun) this.#session.clearDeadline();
    this.#lineBegun = false;
    return line;
  }

  /** Makes room for a read at the end: drops the lines already returned, or borrows. */
  async #makeRoom(): Promise<void> {
    const room = this.#data.length - this.#end;
    if (room >= this.#bufsiz || (room > 0 && this.#start === 0)) return;
    const unread = this.#end - this.#start; // less than maxLine, or readline() has thrown
    if (unread < this.#data.length) {
      this.#data.copyWithin(0, this.#start, this.#end);
    } else { // #own is full of one line; a borrowed buffer holds maxLine and a read
      const long = await this.#budget.lend(this.#session);
      long.set(this.#data);
      this.#data = long;
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
    this.rfile = new LineReader(session, server.options, server.lineBudget);
    // --trace: the trace shows handle(), rfile.readline() and wfile.write() too (an extra).
    (session.conn as { traceHandler?(handler: StreamRequestHandler): void }).traceHandler?.(this);
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
  address: StreamAddress; // all but plain TCP are served by `server/`
  idleTimeoutMs?: number; // close a connection after this long without a byte moving (0: never)
  maxConns?: number; // the most connections at once (10,000): see `Connections`
  lineBudget?: number; // bytes all unfinished lines may hold; beyond, close the biggest (64 MiB)
  quiet?: boolean; // log no line per connection, nor when a client merely goes away
  console?: Console; // where to write (`console`)
}

/**
 * Listens on TCP or a Unix socket (Python's `TCPServer` and `UnixStreamServer`), and serves
 * every connection with a new handler; the connection is closed after the handler.
 */
export class StreamServer extends BaseServer<StreamRequestHandler> {
  /** What this server's unfinished lines may hold, shared by its handlers' readers. */
  readonly lineBudget: LineBudget;
  #Handler: StreamHandlerClass;
  #connections: Connections;

  /** `socket()` + `bind()` + `listen()`, then the server: Python's `TCPServer(address, Handler)`. */
  static async listen(
    options: StreamServerOptions,
    Handler: StreamHandlerClass,
  ): Promise<StreamServer> {
    const { address } = options;
    if (!("path" in address) && !address.tls && !address.reusePort && !address.proxy) {
      const listener = attempt("listen on", address, () => Deno.listen(address));
      return new StreamServer(listener, options, Handler);
    }
    // TLS, a Unix socket, a shared port, a balancer in front: the transport chooser's.
    const extras = await import("./transport.ts");
    const warn = (line: string) => (options.console ?? console).error(line);
    const { listener, handshake } = await extras.listenAt(address, warn);
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
    const size = longLineBuffer(options);
    this.lineBudget = new LineBudget(options.lineBudget ?? LINE_BUDGET, size, this.warn);
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
    const accept = acceptor(this.listener, this.warn);
    let conn: Stream | null;
    while ((conn = await accept()) !== null) {
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

  /**
   * A client that went away or sent too long a line is a line of the per-connection log (none
   * with `quiet`), as in `tsTserv`; one that broke the protocol (TLS) a line a second at most,
   * with how many; anything else concerns the server.
   */
  override handleError(err: unknown, handler: StreamRequestHandler): void {
    const client = formatAddress(handler.clientAddress);
    if (isPeerGone(err)) this.log?.(`...${client} went away: ${(err as Error).message}`);
    else if (err instanceof LineTooLong) this.log?.(`...closing ${client}: ${err.message}`);
    else if (err instanceof Deno.errors.InvalidData) this.#connections.broke(client, err);
    else super.handleError(err, handler);
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
    } finally {
      handler.rfile.close(); // a buffer it borrowed goes back to the budget
    }
  }
}
