/**
 * The connections a stream server accepts and serves, and the rules that keep one client from
 * hurting the others: accepting survives a client's failure, an idle connection is ended, at
 * the cap one address cannot keep out the rest, a stop lets every reply owed go out whole, and
 * a connection is closed so that its last reply arrives. Each is a {@linkcode Session}, read and
 * written like a `Deno.Conn`, whose `read()` gives `null` once the server ends it early.
 *
 * @module
 */

import {
  BACKOFF_MS,
  ONE_CONNECTION,
  OUT_OF_RESOURCES,
  SHUTDOWN_DEADLINE_MS,
  within,
} from "../lib/shutdown.ts";
import { formatPeer } from "./net.ts";
import { Throttled } from "./throttled.ts";

/**
 * Makes `accept()` for a server's loop: each call gives the next connection `listener.accept()`
 * gives, or `null` once the listener is closed. One that fails before we get it (reset by its
 * client) is skipped. Running out of descriptors is said on `warn`, and accepting retried every
 * `BACKOFF_MS` (clients wait in the kernel's queue). As clients come and go at the limit it runs
 * out again and again: so the line that it is over comes a second after the one that it ran out
 * at the earliest, and says how often it did.
 *
 * (Not an async generator for `for await`, nor an async function: measured, each cost a server
 * 1 to 2 kB of memory per idle connection.)
 */
export function acceptor<C extends Stream>(
  listener: { accept(): Promise<C> },
  warn = (line: string) => console.error(line),
): () => Promise<C | null> {
  let starved = false; // accept() fails for want of descriptors
  let spells = 0; // times it ran out since the line that said so
  let saidAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined; // a second after that line
  const over = () => {
    const seconds = ((performance.now() - saidAt) / 1000).toFixed(1);
    warn(
      `accepting connections again${
        spells > 1 ? ` (ran out ${spells} times in ${seconds} s)` : ""
      }`,
    );
    spells = 0;
  };
  const stopped = () => {
    clearTimeout(timer);
    if (timer !== undefined && !starved) over(); // stopping: the last spell was over
    timer = undefined;
    return null;
  };
  const accepted = (conn: C): C => {
    if (starved && timer === undefined) over(); // else the timer says so
    starved = false;
    return conn;
  };
  const failed = async (err: unknown): Promise<C | null> => {
    if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
      return stopped(); // the listener was closed: we are stopping
    }
    const code = (err as { code?: string }).code ?? "";
    if (ONE_CONNECTION.has(code) || err instanceof Deno.errors.NotConnected) return accept();
    if (!OUT_OF_RESOURCES.has(code)) {
      stopped();
      throw err;
    }
    if (!starved && spells++ === 0) {
      warn(`accept failed: ${(err as Error).message}; retrying every ${BACKOFF_MS} ms`);
      saidAt = performance.now();
      timer = setTimeout(() => {
        timer = undefined;
        if (!starved) over();
      }, 1000);
      Deno.unrefTimer(timer);
    }
    starved = true;
    await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
    return accept();
  };
  // Not an async function: each connection then costs no frame of its own here.
  const accept = (): Promise<C | null> => listener.accept().then(accepted, failed);
  return accept;
}

/**
 * Runs `action` when `signal` aborts, or at once if it already has (a listener added to an
 * aborted signal would never run).
 */
export function whenStopped(signal: AbortSignal, action: () => void): void {
  if (signal.aborted) action();
  else signal.addEventListener("abort", action, { once: true });
}

/** The errors that only say a peer went away, or that we closed the connection: routine. */
const PEER_GONE = ("ConnectionReset ConnectionAborted BrokenPipe NotConnected UnexpectedEof " +
  "BadResource Interrupted").split(" ") as (keyof typeof Deno.errors)[];

/** Whether `err` is one of {@linkcode PEER_GONE}. */
export function isPeerGone(err: unknown): boolean {
  return PEER_GONE.some((name) => err instanceof Deno.errors[name]);
}

/**
 * A client's connection, as a server reads and writes it: a `Deno.Conn` (plain TCP, a Unix
 * socket), or TLS over TCP (`server/tls_server.ts`, which has `Deno.Conn`'s calls too).
 */
export type Stream =
  & Pick<Deno.Conn, "read" | "write" | "closeWrite" | "close" | "localAddr" | "remoteAddr">
  & { setNoDelay?(noDelay?: boolean): void; readonly via?: Deno.Addr }; // `via`: see formatPeer()

/** What a stream server accepts connections from: a `Deno.Listener`, or TLS's. */
export interface StreamListener {
  readonly addr: Deno.Addr;
  accept(): Promise<Stream>;
  close(): void;
}

/**
 * How long, and for how many bytes at most, a closing connection waits for its client to close
 * too: long enough for input on its way to arrive, short enough that a stop is not held up by a
 * client waiting for its user, as the book's does in `input()`.
 */
export const LINGER_MS = 500;
const LINGER_BYTES = 256 * 1024;
const discarded = new Uint8Array(64 * 1024); // never looked at, so shared
const NOTHING: Promise<null> = Promise.resolve(null);

/**
 * Where a connection is in its life: `open` (serving); `ending` (the server ends it, once the
 * reply being written is out); `lingering` (FIN sent; the client's last bytes are read and
 * dropped until it closes too); `closed`.
 */
export type SessionState = "open" | "ending" | "lingering" | "closed";

/** One client's connection, as a server serves it. */
export class Session {
  #state: SessionState = "open";
  #endedFor: string | null = null;
  #writing = false; // a reply is being written: ending waits for it
  #clientDone = false; // the client has sent end-of-file
  #closeBy = Infinity; // when to close regardless: a stalled reply, a client slow to close
  #endBy = Infinity; // when to end the connection regardless, and why (`setDeadline()`)
  #endByReason = "";
  #endAfterReply: string | undefined; // a stop that came before the first request (see stop())
  #progress = 0; // reads and writes that moved bytes; the idle check only compares it
  #progressSeen = 0;
  #quietSince = NaN; // set by the first tick: no clock read per connection

  constructor(readonly conn: Stream) {}

  /** Where the connection is in its life. */
  get state(): SessionState {
    return this.#state;
  }
  /** Why the server ended the connection early, once it has (`"the server is stopping"`). */
  get endedFor(): string | null {
    return this.#endedFor;
  }
  /** The client's address, `host:port` (and the balancer it came through, if any). */
  get address(): string {
    return formatPeer(this.conn);
  }
  /** When the idle check last saw a byte move (`performance.now()`); NaN before its first look. */
  get quietSince(): number {
    return this.#quietSince;
  }

  /**
   * Reads into `buffer`, like `Deno.Conn.read()`: the number of bytes read, or `null` when the
   * client is done sending or the server ends the connection (bytes that came are then dropped).
   */
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#state !== "open") return NOTHING;
    // Not an async function: on a server's hot path, `then()` with handlers made once per
    // session costs less, and an idle connection holds one frame fewer.
    return this.conn.read(buffer).then(this.#afterRead, this.#readFailed);
  }
  #afterRead = (n: number | null): number | null => {
    if (n === null) this.#clientDone = true;
    if (n === null || this.#state !== "open") return null;
    this.#progress++;
    return n;
  };
  #readFailed = (err: unknown): number | null => {
    if (this.#endedFor !== null) return null; // we closed it: the client has heard why
    // A TLS client that closes without close_notify has still just finished: end of input.
    if (!(err instanceof Deno.errors.UnexpectedEof)) throw err;
    return this.#afterRead(null);
  };

  /** Writes all of `data`; an awaited write is what stops a client that never reads. */
  write(data: Uint8Array): Promise<void> {
    this.#writing = true;
    return this.#writeRest(data);
  }
  // Not writeAll(): every partial write counts as progress for the idle check. The handlers
  // are made per write, so that an idle connection holds none of them.
  #writeRest(data: Uint8Array): Promise<void> {
    return this.conn.write(data).then((n) => {
      this.#progress++;
      if (n < data.length) return this.#writeRest(data.subarray(n));
      this.#written();
    }, (err) => {
      this.#written();
      throw err;
    });
  }
  #written(): void {
    this.#writing = false;
    if (this.#state === "ending") this.#moveTo("lingering"); // the reply in flight is out
    else if (this.#endAfterReply !== undefined) this.end(this.#endAfterReply);
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

  /**
   * Ends the connection for a stop: as {@linkcode end} does, unless a balancer sent it here
   * (`via`) and nothing has come on it yet. Its first request is then on its way, so it is
   * answered first, and the connection ends once that reply is out, as Go's `Server.Shutdown`
   * waits for a new connection; the stop's deadline bounds the wait.
   */
  stop(reason: string): void {
    const fresh = this.#progress === 0 && this.conn.via !== undefined;
    if (fresh && this.#state === "open") this.#endAfterReply = reason;
    else this.end(reason);
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
    else if (this.#progress !== this.#progressSeen || Number.isNaN(this.#quietSince)) {
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
    if (this.#state === "closed" || this.#state === next) return;
    if (next === "ending") {
      // A reply that never goes out (a client that stopped reading) is cut off after a while.
      this.#closeBy = performance.now() + SHUTDOWN_DEADLINE_MS;
    } else if (next === "lingering") {
      this.conn.closeWrite().catch(() => {}); // FIN; a reset peer: close() follows
      this.#closeBy = performance.now() + LINGER_MS;
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
  idleTimeoutMs?: number; // end a connection after this long without a byte moving (0: never)
  handshake?: (session: Session) => Promise<boolean>; // first, a TLS one: false has closed it
  log?: (line: string) => void; // why a connection was ended early (default: nowhere)
  warn?: (line: string) => void; // what concerns the server, whatever `log` is (console.error)
  /**
   * The most served at once ({@linkcode MAX_CONNS}). At the cap, a new connection takes the
   * place of one from the address that holds the most, or is closed at once if its own does.
   */
  maxConns?: number;
}

/** How many connections a server serves at once unless told otherwise. */
export const MAX_CONNS = 10_000;

/** A client address (none for a Unix socket's client), and how many connections it holds. */
interface Peer {
  readonly key?: string;
  held: number;
}
/** A connection being served: the task serving it, and its address's share. */
interface Slot {
  served: Promise<void>;
  peer: Peer;
}
/** A connection that may be closed at the cap, and since when it has been quiet. */
interface Quiet {
  session: Session;
  peer: Peer;
  since: number;
}
/** How many of the quietest connections one pass at the cap finds, for the next newcomers. */
const SHED_BATCH = 64;

/** Since when nothing has moved on `session`: Infinity (just now) for one not yet looked at. */
function quietSince(session: Session): number {
  return Number.isNaN(session.quietSince) ? Infinity : session.quietSince;
}

/**
 * The connections of one client address are counted together, so that at the cap one address
 * cannot keep out the rest: the client's IP address (behind a balancer, the one its PROXY
 * header gives: the balancer's own is every client's). A Unix socket's clients have none to
 * tell them apart, so each connection counts as an address of its own.
 */
function peerKey(conn: Stream): string | undefined {
  const { remoteAddr } = conn;
  return "hostname" in remoteAddr ? remoteAddr.hostname : undefined;
}

/** The connections a server is serving, each with the task that serves it. */
export class Connections {
  #open = new Map<Session, Slot>();
  #peers = new Map<string, Peer>(); // by client address, while it holds a connection
  #unaddressed = 0; // connections without an address (a Unix socket's): each its own peer
  #toShed: Quiet[] = []; // the next to close at the cap, from one pass: the quietest last
  #options: ConnectionsOptions;
  #idleMs: number;
  #maxConns: number;
  #warn: (line: string) => void;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #stopping = false;
  #refused: Throttled; // connections closed at the cap
  #shed: Throttled; // connections ended at the cap for a client of another address
  #unexpected: Throttled; // errors that escaped a task: bugs, said with their stack
  #broke: Throttled; // connections closed for breaking the protocol (TLS)

  constructor(options: ConnectionsOptions = {}) {
    this.#options = options;
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#maxConns = options.maxConns ?? MAX_CONNS;
    this.#warn = options.warn ?? ((line) => console.error(line));
    this.#refused = new Throttled(this.#warn);
    this.#shed = new Throttled(this.#warn);
    this.#unexpected = new Throttled(this.#warn);
    this.#broke = new Throttled(this.#warn);
  }

  /** How many are open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Serves `conn` with `task`, then closes it politely; whether it is served. At the cap, it
   * takes the place of a connection from the address holding the most (`#makeRoom()`),
   * unless its own address holds as many: then it is closed at once (said on `warn` at most
   * once a second).
   */
  serve(conn: Stream, task: (session: Session) => Promise<void>): boolean {
    const key = peerKey(conn);
    const peer = (key === undefined ? undefined : this.#peers.get(key)) ?? { key, held: 0 };
    if (this.#open.size >= this.#maxConns && !this.#makeRoom(peer)) {
      conn.close();
      this.#refused.note((count) => {
        const closed = `${count} new connection${count === 1 ? "" : "s"}`;
        return `...too many clients (${this.#maxConns} at once): closed ${closed}`;
      });
      return false;
    }
    if (peer.held++ === 0 && key !== undefined) this.#peers.set(key, peer);
    if (key === undefined) this.#unaddressed++;
    const session = new Session(conn);
    if (this.#stopping) session.stop("the server is stopping");
    // While the task runs, a connection holds only this one pair of handlers here, not an
    // async function's frame: less memory for each idle connection.
    const served = this.#start(session, task).then(
      (ran) => this.#finish(session, ran !== false),
      (err) => this.#finish(session, false, { err }),
    );
    this.#open.set(session, { served, peer });
    this.#startTicking();
    return true;
  }

  /**
   * At the cap, makes room for a connection from `newcomer` if another address holds more: of
   * the connections of the addresses holding the most, the one on which nothing has moved for
   * longest is closed at once, as nginx closes its idle keep-alive connections, oldest first,
   * when it runs out of them. So a client holding fewer always gets in, however many one address
   * holds; and a byte sent now and then, which keeps a connection from the idle timeout, does not
   * keep it from this. Whether there is room.
   */
  #makeRoom(newcomer: Peer): boolean {
    let most = this.#unaddressed > 0 ? 1 : 0;
    for (const { held } of this.#peers.values()) most = Math.max(most, held);
    if (newcomer.held >= most) return false; // its own address holds the most: the cap is for it
    const next = this.#quietest(most);
    if (next === undefined) return false; // all of them are ending already
    const { session, peer: { key } } = next;
    const ofWhom = key === undefined ? "" : ` of the address holding the most (${most})`;
    session.end(`at the cap: quiet longest${ofWhom}`);
    session.abort();
    this.#options.log?.(`...closing ${session.address}: ${session.endedFor}`);
    this.#shed.note((count) => {
      const closed = `${count} connection${count === 1 ? "" : "s"} quiet longest`;
      const whose = key === undefined ? "" : ` of ${key}, which held the most (${most})`;
      const cap = `${this.#maxConns} at once`;
      return `...too many clients (${cap}): closed ${closed}${whose}, to let others in`;
    });
    return true;
  }

  /**
   * The connection quiet longest of those of the addresses holding `most`. One pass over all
   * finds the `SHED_BATCH` quietest, for this newcomer and the next ones: none it passed over can
   * have become quieter since, and one found that has moved since, or whose address no longer
   * holds the most, is skipped.
   */
  #quietest(most: number): Quiet | undefined {
    for (const pass of [1, 2]) {
      for (let next; (next = this.#toShed.pop());) {
        const { session, peer, since } = next;
        if (session.state === "open" && peer.held >= most && quietSince(session) === since) {
          return next;
        }
      }
      if (pass === 1) this.#toShed = this.#findQuietest(most);
    }
  }

  /** The `SHED_BATCH` quietest open connections of the addresses holding `most`, quietest last. */
  #findQuietest(most: number): Quiet[] {
    const found: Quiet[] = [];
    this.#open.forEach(({ peer }, session) => {
      if (peer.held < most || session.state !== "open") return;
      const since = quietSince(session);
      if (found.length === SHED_BATCH) {
        if (since >= found[0].since) return;
        found.shift();
      }
      let at = found.length;
      while (at > 0 && found[at - 1].since < since) at--;
      found.splice(at, 0, { session, peer, since });
    });
    return found;
  }

  /** The handshake if any, then the task; `false` if a handshake failed (and has closed). */
  #start(session: Session, task: (session: Session) => Promise<void>): Promise<void | false> {
    const { handshake } = this.#options;
    if (!handshake) return task(session);
    return handshake(session).then<void | false>((ok) => ok ? task(session) : false);
  }

  /** After the task: closes politely, or says why not; then the connection is forgotten. */
  async #finish(session: Session, served: boolean, failed?: { err: unknown }): Promise<void> {
    try {
      if (failed) throw failed.err;
      if (served) await session.close();
    } catch (err) {
      session.abort();
      if (err instanceof Deno.errors.InvalidData) return this.broke(session.address, err);
      const stack = (err as Error)?.stack ?? err;
      this.#unexpected.note((count) => {
        const more = count > 1 ? ` (and ${count - 1} more in the last second)` : "";
        return `unexpected error serving ${session.address}${more}: ${stack}`;
      });
    } finally {
      const { peer } = this.#open.get(session)!;
      this.#open.delete(session);
      if (peer.key === undefined) this.#unaddressed--;
      else if (--peer.held === 0) this.#peers.delete(peer.key);
    }
  }

  /**
   * Says that the client at `address` broke the protocol (a TLS record that does not decrypt),
   * which closed its connection: on `warn`, at most once a second, so that a flood of such
   * clients is a line a second, with how many.
   */
  broke(address: string, err: Error): void {
    this.#broke.note((count) => {
      const more = count > 1
        ? ` (and ${count - 1} more that broke the protocol in the last second)`
        : "";
      return `...closing ${address}${more}: ${err.message}`;
    });
  }

  /**
   * Stops serving, as Go's `Server.Shutdown` does, once the listener has closed: ends every
   * connection politely, waits for them (`deadlineMs` at most), then closes what is left.
   */
  async shutdown(deadlineMs: number = SHUTDOWN_DEADLINE_MS): Promise<void> {
    this.#stopping = true;
    for (const session of this.#open.keys()) session.stop("the server is stopping");
    const served = () => Promise.all([...this.#open.values()].map(({ served }) => served));
    await within(served(), deadlineMs);
    for (const session of this.#open.keys()) session.abort();
    await served();
    clearInterval(this.#ticker);
    for (const line of [this.#refused, this.#shed, this.#unexpected, this.#broke]) line.flush();
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
