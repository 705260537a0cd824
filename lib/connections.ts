/**
 * The connections a TCP server is serving, and the rules that keep one client from hurting the
 * others or the server: a connection that does nothing for too long is closed, a stop lets every
 * reply already owed go out whole, and a connection is closed so that its last reply arrives.
 *
 * Each connection is a {@linkcode Session}: `read()` and `write()` as on a `Deno.Conn`, except
 * that `read()` gives `null` when the server ends the connection early (a stop, an idle client),
 * so the serving loop needs no extra case for that.
 *
 * @example Usage
 * ```ts ignore
 * const connections = new Connections({ signal: stop.signal, idleTimeoutMs: 300_000 });
 * for await (const conn of accepted(listener)) {
 *   connections.serve(conn, async (client) => {
 *     let n;
 *     while ((n = await client.read(buffer)) !== null) await client.write(buffer.subarray(0, n));
 *   });
 * }
 * await connections.drain(); // after the listener has closed
 * ```
 *
 * @module
 */

import { formatAddress } from "./net.ts";

/** How long a stopping server waits for replies in flight before it closes what is left. */
export const DRAIN_DEADLINE_MS = 1000;
/**
 * How long a closing connection waits for its client to close too, at most (give or take a tick
 * of {@linkcode Connections}' ticker, a quarter of a second at most). Long enough for
 * input already on its way to arrive; short enough that a stop is not held up by clients that
 * wait for their user (the book's client sits in `input()` and only then sees the close).
 */
export const LINGER_MS = 500;
/** How much input a closing connection reads and throws away while it waits, at most. */
const LINGER_BYTES = 256 * 1024;
/** Where that input goes. Its content is never looked at, so every connection can share it. */
const discarded = new Uint8Array(64 * 1024);

/** One client's connection, as a server serves it. */
export class Session {
  /** The connection itself. */
  readonly conn: Deno.Conn;
  /** Why the server is ending the connection early, once it is (`"the server is stopping"`). */
  endedFor: string | null = null;
  #writing = false;
  #writeShut = false;
  #eof = false;
  #closed = false;
  /**
   * When to close regardless: a stalled last reply, or a client that does not close after us.
   * A deadline that the ticker checks, rather than a timer per connection, which would cost a
   * timer's setting and clearing on every connection of a busy server.
   */
  #abortAt = Infinity;
  /** Counts reads and writes that moved bytes; the idle check only compares it. */
  #progress = 0;
  #progressSeen = 0;
  #quietSince = performance.now();
  /** When the connection is to be ended regardless (see `limit()`). */
  #deadline = Infinity;
  #deadlineReason = "";

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** The client's address, `host:port`. */
  get address(): string {
    return formatAddress(this.conn.remoteAddr);
  }

  /**
   * Reads into `buffer`, like `Deno.Conn.read()`: the number of bytes read, or `null` when the
   * client is done sending, or when the server ends the connection (then any bytes that came
   * are dropped: no reply is owed for them).
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.endedFor !== null) return null;
    let n: number | null;
    try {
      n = await this.conn.read(buffer);
    } catch (err) {
      if (this.endedFor !== null) return null; // we closed it: the client has heard why
      throw err;
    }
    if (n === null) this.#eof = true;
    if (n === null || this.endedFor !== null) return null;
    this.#progress++;
    return n;
  }

  /** Writes all of `data`; an awaited write is what stops a client that never reads. */
  async write(data: Uint8Array): Promise<void> {
    this.#writing = true;
    try {
      let done = await this.conn.write(data);
      this.#progress++;
      while (done < data.length) {
        done += await this.conn.write(data.subarray(done));
        this.#progress++;
      }
    } finally {
      this.#writing = false;
      if (this.endedFor !== null) this.#shutWrite(); // the reply that was in flight is out
    }
  }

  /**
   * Ends the connection early, politely: a reply being written is finished (if it can be within
   * `DRAIN_DEADLINE_MS`), then the client gets end-of-file (FIN) instead of the next reply, and
   * the serving loop's next `read()` gives `null`. If the client has not closed its side
   * `LINGER_MS` later, the connection is closed.
   */
  end(reason: string): void {
    if (this.endedFor !== null || this.#closed) return;
    this.endedFor = reason;
    this.#deadline = Infinity;
    if (!this.#writing) this.#shutWrite();
    // A write that never finishes (a client that stopped reading) is cut off after a while.
    else this.#abortAt = performance.now() + DRAIN_DEADLINE_MS;
  }

  /**
   * Ends the connection with `reason` (see {@linkcode end}) unless the limit is lifted within
   * `ms` (0: no limit), e.g. to bound how long a request may take, however slowly it trickles.
   */
  limit(ms: number, reason: string): void {
    if (this.endedFor !== null) return;
    this.#deadline = ms > 0 ? performance.now() + ms : Infinity;
    this.#deadlineReason = reason;
  }

  /** Lifts the limit set by {@linkcode limit}. */
  unlimit(): void {
    this.limit(0, "");
  }

  /**
   * Closes the connection so that everything written arrives. Closing a socket with input
   * still unread makes the kernel answer with a reset (RST), which can destroy the last reply
   * on its way. So, as nginx and Apache do, this first sends FIN, then reads and discards what
   * the client still sends until it closes too (bounded in bytes, and in time by `LINGER_MS`).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (!this.#eof) {
      this.#shutWrite();
      try {
        for (let total = 0; total < LINGER_BYTES;) {
          const n = await this.conn.read(discarded);
          if (n === null) break;
          total += n;
        }
      } catch {
        // Reset, or closed by abort(): either way, nothing more to wait for.
      }
    }
    this.abort();
  }

  /** Closes the connection at once; pending reads and writes fail. For clients that misbehave. */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }

  /** Sends FIN (`shutdown(SHUT_WR)`), and closes for good if the client has not `LINGER_MS` later. */
  #shutWrite(): void {
    if (this.#writeShut || this.#closed) return;
    this.#writeShut = true;
    (this.conn as Deno.TcpConn).closeWrite().catch(() => {}); // a reset peer: close() follows
    this.#abortAt = performance.now() + LINGER_MS;
  }

  /**
   * Called every tick by {@linkcode Connections}: ends a connection idle for `idleMs` or past
   * its limit, and closes one that has lingered long enough.
   * @returns Why the connection was ended just now, if it was.
   */
  check(now: number, idleMs: number): string | undefined {
    if (now >= this.#abortAt) this.abort();
    if (this.#closed || this.endedFor !== null) return undefined;
    if (now >= this.#deadline) {
      this.end(this.#deadlineReason);
      return this.#deadlineReason;
    }
    if (this.#progress !== this.#progressSeen) {
      this.#progressSeen = this.#progress;
      this.#quietSince = now;
    } else if (idleMs > 0 && now - this.#quietSince >= idleMs) {
      const reason = `idle for ${idleMs / 1000} s`;
      this.end(reason);
      return reason;
    }
    return undefined;
  }
}

/** How a server wants its connections kept. */
export interface ConnectionsOptions {
  /** Aborted when the server stops: every connection is then ended politely. */
  signal: AbortSignal;
  /** Close a connection after this long without a byte moving either way; 0 for never. */
  idleTimeoutMs?: number;
  /** Where to say why a connection was closed early (default: nowhere). */
  log?: (line: string) => void;
}

/**
 * The connections a server is serving, each with the task that serves it: so that idle ones
 * can be closed, and so that a stop can wait for replies in flight, then close what is left.
 */
export class Connections {
  #open = new Map<Session, Promise<void>>();
  #idleMs: number;
  #log: (line: string) => void;
  #signal: AbortSignal;
  #ticker: ReturnType<typeof setInterval> | undefined;

  constructor(options: ConnectionsOptions) {
    this.#signal = options.signal;
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#log = options.log ?? (() => {});
    this.#signal.addEventListener("abort", () => {
      for (const session of this.#open.keys()) session.end("the server is stopping");
    }, { once: true });
  }

  /** How many connections are open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Serves `conn` with `task`, then closes it (politely: see {@linkcode Session.close}). The
   * task should handle its own errors; one that escapes is a bug, so it is logged, the
   * connection is closed at once, and the server goes on.
   */
  serve(conn: Deno.Conn, task: (session: Session) => Promise<void>): void {
    const session = new Session(conn);
    if (this.#signal.aborted) session.end("the server is stopping");
    const served = (async () => {
      try {
        await task(session);
        await session.close();
      } catch (err) {
        session.abort();
        console.error(`unexpected error serving ${session.address}:`, err);
      }
    })().finally(() => this.#open.delete(session));
    this.#open.set(session, served);
    this.#startTicking();
  }

  /**
   * Waits until every connection has finished, or `deadlineMs` has passed; then closes the
   * connections still open (say, a client that never reads its reply) and waits for their
   * tasks to end. Call it once the listener has closed, to stop.
   */
  async drain(deadlineMs: number = DRAIN_DEADLINE_MS): Promise<void> {
    const allDone = Promise.all(this.#open.values());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, deadlineMs));
    await Promise.race([allDone, deadline]);
    clearTimeout(timer);
    for (const session of this.#open.keys()) session.abort();
    await Promise.all(this.#open.values());
    this.#stopTicking();
  }

  /**
   * One timer for all connections, rather than one per read: a check costs no more per read.
   * It starts with the first connection and runs until `drain()`, not once per connection.
   */
  #startTicking(): void {
    if (this.#ticker !== undefined) return;
    const tickMs = Math.max(20, Math.min(this.#idleMs || 1000, 1000) / 4);
    const ticker = setInterval(() => {
      const now = performance.now();
      for (const session of this.#open.keys()) {
        const reason = session.check(now, this.#idleMs);
        if (reason) this.#log(`...closing ${session.address}: ${reason}`);
      }
    }, tickMs);
    Deno.unrefTimer(ticker); // it alone must not keep a stopping server alive
    this.#ticker = ticker;
  }

  #stopTicking(): void {
    clearInterval(this.#ticker);
    this.#ticker = undefined;
  }
}
