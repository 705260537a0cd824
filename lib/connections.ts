/**
 * The connections a stream server is serving, and the rules that keep one client from hurting
 * the others: an idle connection is ended, a stop lets every reply already owed go out whole,
 * and a connection is closed so that its last reply arrives. Each is a {@linkcode Session}, read
 * and written like a `Deno.Conn`, whose `read()` gives `null` once the server ends it early.
 *
 * @module
 */

import { formatAddress } from "./net.ts";
import { SHUTDOWN_DEADLINE_MS, within } from "./shutdown.ts";

/** A client's connection: plain TCP, TLS over TCP, or a Unix socket. */
export type Stream = Deno.TcpConn | Deno.TlsConn | Deno.UnixConn;

/**
 * How long a closing connection waits for its client to close too (give or take the ticker's
 * period): long enough for input on its way to arrive, short enough that a stop is not held up
 * by a client waiting for its user, as the book's does in `input()`.
 */
export const LINGER_MS = 500;
/** How much input a closing connection reads and drops while it waits, at most. */
const LINGER_BYTES = 256 * 1024;
const discarded = new Uint8Array(64 * 1024); // never looked at, so shared

/**
 * Where a connection is in its life: `open` (serving); `ending` (the server ends it, once the
 * reply being written is out); `lingering` (FIN sent; the client's last bytes are read and
 * dropped until it closes too); `closed`.
 */
export type SessionState = "open" | "ending" | "lingering" | "closed";

/** One client's connection, as a server serves it. */
export class Session {
  readonly conn: Stream;
  #state: SessionState = "open";
  #endedFor: string | null = null;
  #writing = false; // a reply is being written: ending waits for it
  #clientDone = false; // the client has sent end-of-file
  /** When to close regardless: a stalled last reply, or a client slow to close after us. */
  #closeBy = Infinity;
  /** When to end the connection regardless, and why (see `setDeadline()`). */
  #endBy = Infinity;
  #endByReason = "";
  /** Reads and writes that moved bytes; the idle check only compares it. */
  #progress = 0;
  #progressSeen = 0;
  #quietSince = performance.now();

  constructor(conn: Stream) {
    this.conn = conn;
  }

  /** Where the connection is in its life. */
  get state(): SessionState {
    return this.#state;
  }
  /** Why the server ended the connection early, once it has (`"the server is stopping"`). */
  get endedFor(): string | null {
    return this.#endedFor;
  }
  /** The client's address, `host:port`. */
  get address(): string {
    return formatAddress(this.conn.remoteAddr);
  }

  /**
   * Reads into `buffer`, like `Deno.Conn.read()`: the number of bytes read, or `null` when the
   * client is done sending or the server ends the connection (bytes that came are then dropped).
   */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#state !== "open") return null;
    let n: number | null;
    try {
      n = await this.conn.read(buffer);
    } catch (err) {
      if (this.#endedFor !== null) return null; // we closed it: the client has heard why
      // A TLS client that closes without close_notify has still just finished: end of input.
      if (!(err instanceof Deno.errors.UnexpectedEof)) throw err;
      n = null;
    }
    if (n === null) this.#clientDone = true;
    if (n === null || this.#state !== "open") return null;
    this.#progress++;
    return n;
  }

  /** Writes all of `data`; an awaited write is what stops a client that never reads. */
  async write(data: Uint8Array): Promise<void> {
    this.#writing = true;
    try {
      // Not writeAll(): every partial write counts as progress for the idle check.
      let done = 0;
      while (done < data.length) {
        done += await this.conn.write(done === 0 ? data : data.subarray(done));
        this.#progress++;
      }
    } finally {
      this.#writing = false;
      if (this.#state === "ending") this.#moveTo("lingering"); // the reply in flight is out
    }
  }

  /**
   * Ends the connection early, politely: the reply being written goes out (within
   * `SHUTDOWN_DEADLINE_MS`), then FIN, and the serving loop's next `read()` gives `null`.
   */
  end(reason: string): void {
    if (this.#state !== "open") return;
    this.#endedFor = reason;
    this.#moveTo(this.#writing ? "ending" : "lingering");
  }

  /** Ends the connection with `reason` unless cleared within `ms`: bounds a slow request. */
  setDeadline(ms: number, reason: string): void {
    this.#endBy = performance.now() + ms;
    this.#endByReason = reason;
  }
  /** Clears the deadline set by {@linkcode setDeadline}. */
  clearDeadline(): void {
    this.#endBy = Infinity;
  }
  /** Counts as traffic for the idle check, as a finished TLS handshake does. */
  touch(): void {
    this.#progress++;
  }

  /**
   * Closes the connection so that everything written arrives. Closing with input unread makes
   * the kernel send a reset (RST), which can destroy the last reply on its way; so, as nginx
   * does, this sends FIN, then reads and drops input until the client closes too (`LINGER_MS`).
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    if (!this.#clientDone) {
      this.#moveTo("lingering");
      try {
        for (let total = 0; total < LINGER_BYTES;) {
          const n = await this.conn.read(discarded);
          if (n === null) break;
          total += n;
        }
      } catch { /* reset, or closed by the ticker: nothing more to wait for */ }
    }
    this.#moveTo("closed");
  }

  /** Closes the connection at once; pending reads and writes fail. For clients that misbehave. */
  abort(): void {
    this.#moveTo("closed");
  }

  /** Each tick: closes at `closeBy`, ends at the deadline or after `idleMs`; says why it ended. */
  tick(now: number, idleMs: number): string | undefined {
    if (now >= this.#closeBy) this.#moveTo("closed");
    if (this.#state !== "open") return undefined;
    let reason: string | undefined;
    if (now >= this.#endBy) reason = this.#endByReason;
    else if (this.#progress !== this.#progressSeen) {
      this.#progressSeen = this.#progress;
      this.#quietSince = now;
    } else if (idleMs > 0 && now - this.#quietSince >= idleMs) {
      reason = `idle for ${idleMs / 1000} s`;
    }
    if (reason !== undefined) this.end(reason);
    return reason;
  }

  /** Every change of state, and what it does to the socket, happens here. */
  #moveTo(next: SessionState): void {
    const now = performance.now();
    if (this.#state === "closed" || this.#state === next) return;
    if (next === "ending") {
      // A reply that never goes out (a client that stopped reading) is cut off after a while.
      this.#closeBy = now + SHUTDOWN_DEADLINE_MS;
    } else if (next === "lingering") {
      this.conn.closeWrite().catch(() => {}); // FIN; a reset peer: close() follows
      this.#closeBy = now + LINGER_MS;
    } else if (next === "closed") {
      try {
        this.conn.close();
      } catch { /* closed already */ }
    }
    this.#state = next;
  }
}

/** How a server wants its connections kept. */
export interface ConnectionsOptions {
  /** End a connection after this long without a byte moving either way; 0 for never. */
  idleTimeoutMs?: number;
  /** What to do first with a connection (a TLS handshake): `false` has closed it, saying why. */
  handshake?: (session: Session) => Promise<boolean>;
  /** Where to say why a connection was ended early (default: nowhere). */
  log?: (line: string) => void;
  /** Where to say what concerns the server, whatever `log` is (default: `console.error`). */
  warn?: (line: string) => void;
  /**
   * The most connections served at once ({@linkcode MAX_CONNS}). Beyond it, a new one is closed
   * at once, so that clients are told rather than left to fill the kernel's queue.
   */
  maxConns?: number;
}

/** How many connections a server serves at once unless told otherwise. */
export const MAX_CONNS = 10_000;

/** The connections a server is serving, each with the task that serves it. */
export class Connections {
  #open = new Map<Session, Promise<void>>();
  #options: ConnectionsOptions;
  #idleMs: number;
  #maxConns: number;
  #warn: (line: string) => void;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #refused = 0; // connections closed at the cap since the last line that said so
  #refusedSaidAt = -Infinity;

  constructor(options: ConnectionsOptions = {}) {
    this.#options = options;
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#maxConns = options.maxConns ?? MAX_CONNS;
    this.#warn = options.warn ?? ((line) => console.error(line));
  }

  /** How many are open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Serves `conn` with `task`, then closes it politely. An error that escapes the task is a bug:
   * it is logged, the connection is closed at once, and the server goes on.
   */
  serve(conn: Stream, task: (session: Session) => Promise<void>): void {
    if (this.#open.size >= this.#maxConns) return this.#refuse(conn);
    const session = new Session(conn);
    if (this.#stopping) session.end("the server is stopping");
    const { handshake } = this.#options;
    const served = (async () => {
      try {
        if (handshake && !(await handshake(session))) return;
        await task(session);
        await session.close();
      } catch (err) {
        session.abort();
        this.#warn(`unexpected error serving ${session.address}: ${(err as Error)?.stack ?? err}`);
      }
    })().finally(() => this.#open.delete(session));
    this.#open.set(session, served);
    this.#startTicking();
  }

  /** Closes a connection beyond the cap at once; says so on `warn` at most once a second. */
  #refuse(conn: Stream): void {
    conn.close();
    this.#refused++;
    const now = performance.now();
    if (now - this.#refusedSaidAt < 1000) return;
    const closed = `${this.#refused} new connection${this.#refused === 1 ? "" : "s"}`;
    this.#warn(`...too many clients (${this.#maxConns} at once): closed ${closed}`);
    this.#refused = 0;
    this.#refusedSaidAt = now;
  }

  /**
   * Stops serving, as Go's `Server.Shutdown` does, once the listener has closed: ends every
   * connection politely, waits for their tasks (`deadlineMs` at most), then closes what is left
   * (a client that never reads its reply, say).
   */
  async shutdown(deadlineMs: number = SHUTDOWN_DEADLINE_MS): Promise<void> {
    this.#stopping = true;
    for (const session of this.#open.keys()) session.end("the server is stopping");
    await within(Promise.all(this.#open.values()), deadlineMs);
    for (const session of this.#open.keys()) session.abort();
    await Promise.all(this.#open.values());
    clearInterval(this.#ticker);
  }

  /** One timer for all connections, not one per read: from the first to `shutdown()`. */
  #startTicking(): void {
    if (this.#ticker !== undefined) return;
    const tickMs = Math.max(20, Math.min(this.#idleMs || 1000, 1000) / 4);
    this.#ticker = setInterval(() => {
      const now = performance.now();
      for (const session of this.#open.keys()) {
        const reason = session.tick(now, this.#idleMs);
        if (reason) this.#options.log?.(`...closing ${session.address}: ${reason}`);
      }
    }, tickMs);
    Deno.unrefTimer(this.#ticker); // it alone must not keep a stopping server alive
  }
}
