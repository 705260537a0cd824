/**
 * The connections a TCP server is serving, and the rules that keep one client from hurting the
 * others: an idle connection is ended, a stop lets every reply already owed go out whole, and a
 * connection is closed so that its last reply arrives. Each is a {@linkcode Session}, read and
 * written like a `Deno.Conn`, whose `read()` gives `null` once the server ends it early.
 *
 * @example Usage
 * ```ts ignore
 * const connections = new Connections({ idleTimeoutMs: 300_000 });
 * for await (const conn of accepted(listener)) connections.serve(conn, echo);
 * await connections.shutdown(); // once a stop has closed the listener
 * ```
 *
 * @module
 */

import { formatAddress } from "./net.ts";
import { within } from "./shutdown.ts";
import { explainTlsError } from "./tls.ts";

/** A client's connection: plain TCP, TLS over TCP, or a Unix socket. */
export type Stream = Deno.TcpConn | Deno.TlsConn | Deno.UnixConn;

/** How long a stop waits for replies in flight before it closes what is left. */
export const SHUTDOWN_DEADLINE_MS = 1000;
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

  /** Counts as traffic for the idle check, as a finished TLS handshake does. */
  touch(): void {
    this.#progress++;
  }

  /** Clears the deadline set by {@linkcode setDeadline}. */
  clearDeadline(): void {
    this.#endBy = Infinity;
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
      } catch {
        // Reset, or closed by the ticker: either way, nothing more to wait for.
      }
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
      } catch {
        // Closed already.
      }
    }
    this.#state = next;
  }
}

/** How a server wants its connections kept. */
export interface ConnectionsOptions {
  /** End a connection after this long without a byte moving either way; 0 for never. */
  idleTimeoutMs?: number;
  /** Close a TLS connection whose handshake is not done this long after it is accepted. */
  handshakeTimeoutMs?: number;
  /** Where to say why a connection was ended early (default: nowhere). */
  log?: (line: string) => void;
  /**
   * The most connections served at once (default 10,000). Beyond it, a new one is closed as
   * soon as it is accepted, so that clients are told at once rather than left to fill the
   * kernel's queue; a line a second says so, whatever `log` is.
   */
  maxConns?: number;
}

/** How many connections a server serves at once unless told otherwise. */
export const MAX_CONNS = 10_000;

/** The connections a server is serving, each with the task that serves it. */
export class Connections {
  #open = new Map<Session, Promise<void>>();
  #idleMs: number;
  #handshakeMs: number;
  #log?: (line: string) => void;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #maxConns: number;
  #refused = 0; // connections closed at the cap since the last line that said so
  #refusedSaidAt = -Infinity;

  constructor(options: ConnectionsOptions = {}) {
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#handshakeMs = options.handshakeTimeoutMs ?? 10_000;
    this.#log = options.log;
    this.#maxConns = options.maxConns ?? MAX_CONNS;
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
    const served = (async () => {
      try {
        if ("handshake" in conn && !(await this.#handshake(session, conn))) return;
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

  /** Closes a connection beyond the cap at once; says so at most once a second. */
  #refuse(conn: Stream): void {
    conn.close();
    this.#refused++;
    const now = performance.now();
    if (now - this.#refusedSaidAt < 1000) return;
    const closed = `${this.#refused} new connection${this.#refused === 1 ? "" : "s"}`;
    console.error(`...too many clients (${this.#maxConns} at once): closed ${closed}`);
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

  /**
   * A TLS connection's handshake, bounded in time so that a client that never sends its hello
   * holds nothing for long; it runs in the connection's own task, so no one else waits for it.
   * @returns Whether it succeeded; if not, the connection is closed, and the log says why.
   */
  async #handshake(session: Session, conn: Deno.TlsConn): Promise<boolean> {
    const seconds = this.#handshakeMs / 1000;
    session.setDeadline(this.#handshakeMs, `no TLS handshake within ${seconds} s`);
    try {
      await conn.handshake();
      session.clearDeadline();
      session.touch(); // the idle clock starts now
      return true;
    } catch (err) {
      if (session.endedFor === null) {
        const why = explainTlsError(err, "server") ?? (err as Error).message;
        this.#log?.(`...closing ${session.address}: TLS handshake failed: ${why}`);
      }
      session.abort();
      return false;
    }
  }

  /** One timer for all connections, not one per read: from the first to `shutdown()`. */
  #startTicking(): void {
    if (this.#ticker !== undefined) return;
    const tickMs = Math.max(20, Math.min(this.#idleMs || 1000, 1000) / 4);
    this.#ticker = setInterval(() => {
      const now = performance.now();
      for (const session of this.#open.keys()) {
        const reason = session.tick(now, this.#idleMs);
        if (reason) this.#log?.(`...closing ${session.address}: ${reason}`);
      }
    }, tickMs);
    Deno.unrefTimer(this.#ticker); // it alone must not keep a stopping server alive
  }
}
