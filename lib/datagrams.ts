/**
 * A datagram server's rules, the same for `tsUserv.ts` and `DatagramServer`. UDP has no
 * connections: one socket receives from everyone and answers each sender. A failure that
 * concerns one sender is said, and the server goes on; a stop closes the socket, which ends a
 * `receive()` that waits, once the replies in flight are out.
 *
 * @module
 */

import { formatAddress } from "./net.ts";
import { SHUTDOWN_DEADLINE_MS, whenStopped, within } from "./shutdown.ts";

/**
 * How long a reply over AF_UNIX may take to go out. A Unix datagram goes into its receiver's
 * queue (`net.unix.max_dgram_qlen`, 10 by default); a sender that never reads its replies fills
 * it, and past that point Deno's `send()` neither ends nor can be cancelled.
 */
export const UNREAD_REPLY_MS = 200;

/** The replies a datagram server has in flight on its socket, and how the socket is closed. */
export class Replies {
  #socket: Deno.DatagramConn;
  // Over AF_UNIX, the senders whose reply is stuck in their full queue: their replies are
  // dropped at once until it goes out or fails (they read, or leave); and when it was said.
  #unread = new Map<string, { dropped: number; saidAt: number }>();
  #inFlight = 0; // replies begun and not yet ended
  #idle?: () => void; // a stop waiting for them
  #closed?: Promise<void>;

  /** At `signal`'s abort, {@linkcode close} starts by itself; `warn` says what concerns a sender. */
  constructor(
    socket: Deno.DatagramConn,
    readonly signal: AbortSignal,
    readonly warn = (line: string) => console.error(line),
  ) {
    this.#socket = socket;
    whenStopped(signal, () => this.close());
  }

  /** The socket to receive on: over AF_UNIX, a new one after {@linkcode send} gave one up. */
  get socket(): Deno.DatagramConn {
    return this.#socket;
  }

  /**
   * Sends a reply to `client` with `sendTo(socket)` (`socket.send(data, client)`): `true` if it
   * went out. Over AF_UNIX, a reply that is not out
   * within `UNREAD_REPLY_MS` is dropped (`false`), and so are the next ones to that sender until
   * that one ends: said at most once a second per sender. Its `send()` keeps the socket busy, so
   * that it can no longer receive: the socket is given up, and a new one bound at our path.
   * @throws What `send()` throws: a failure that concerns `client` (see {@linkcode cannotReply}).
   */
  async send(
    client: Deno.Addr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
  ): Promise<boolean> {
    if (!("path" in client) || !client.path) {
      await sendTo(this.#socket); // UDP never waits for its receiver; nor a refusal
      return true;
    }
    const unread = this.#unread.get(client.path);
    if (unread) return this.#dropped(client, unread);
    const sending = sendTo(this.#socket);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(resolve, UNREAD_REPLY_MS, "late")
    );
    try {
      if (await Promise.race([sending, late]) !== "late") return true;
    } finally {
      clearTimeout(timer);
    }
    // Stuck: Deno spins on it (a core, at worst) until that client reads or leaves; close()
    // does not end it. The socket is left to it, and closed: its descriptor goes when it ends.
    const stuck = { dropped: 0, saidAt: -Infinity };
    this.#unread.set(client.path, stuck);
    sending.catch(() => {}).finally(() => this.#unread.delete(client.path));
    this.#dropped(client, stuck);
    if (this.signal.aborted) return false; // the stop closes the socket and removes its file
    const old = this.#socket;
    const { rebindUnixDatagram } = await import("./extras/unix.ts"); // loaded already
    this.#socket = await rebindUnixDatagram((old.addr as Deno.UnixAddr).path);
    old.close();
    return false;
  }

  #dropped(client: Deno.UnixAddr, unread: { dropped: number; saidAt: number }): false {
    unread.dropped++;
    const now = performance.now();
    if (now - unread.saidAt >= 1000) {
      const what = unread.dropped > 1 ? `${unread.dropped} replies` : "a reply";
      this.warn(
        `...dropped ${what} to ${formatAddress(client)}: it does not read its replies ` +
          "(its queue is full)",
      );
      unread.dropped = 0;
      unread.saidAt = now;
    }
    return false;
  }

  /**
   * After `receive()` failed: `true` if the stop closed the socket, and the loop is over. An
   * earlier reply's failure, which some systems report on the next receive (ICMP "port
   * unreachable": its sender had gone), concerns that sender: it is said, and `false`.
   * @throws The error, if it is neither.
   */
  ended(err: unknown): boolean {
    if (this.signal.aborted) return true;
    const { ConnectionReset, ConnectionRefused } = Deno.errors;
    if (err instanceof ConnectionReset || err instanceof ConnectionRefused) {
      this.warn(`...an earlier reply could not be delivered: ${(err as Error).message}`);
      return false;
    }
    throw err;
  }

  /** A reply goes out: a stop closes the socket only once every reply begun has ended. */
  begin(): void {
    this.#inFlight++;
  }
  /** A reply begun went out, or failed. */
  end(): void {
    if (--this.#inFlight === 0) this.#idle?.();
  }
  /** {@linkcode begin}, and {@linkcode end} once `reply` settles (for replies served at once). */
  track<T>(reply: Promise<T>): Promise<T> {
    this.begin();
    return reply.finally(() => this.end());
  }

  /**
   * Closes the socket once the replies in flight are out (`SHUTDOWN_DEADLINE_MS` at most); a
   * Unix datagram socket's file, which outlives its socket, is removed if it is still ours.
   */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      const idle = new Promise<void>((resolve) => this.#idle = resolve);
      if (this.#inFlight > 0) await within(idle, SHUTDOWN_DEADLINE_MS);
      const { addr } = this.#socket;
      this.#socket.close(); // DatagramConn has no Symbol.dispose for `using`
      // The extra that bound it, loaded already, removes the file if it is still ours.
      if ("path" in addr && addr.path) (await import("./extras/unix.ts")).removeIfOurs(addr.path);
    })();
  }
}

/**
 * The line for a reply that could not be sent to `client`, in words a user can act on: over UDP,
 * leave for every client, not Deno's words for one port. Over AF_UNIX a reply goes to the
 * sender's own socket file, which it must have bound, and which Deno must be let reach and write.
 */
export function cannotReply(err: unknown, client: Deno.Addr): string {
  let why = err instanceof Error ? err.message : String(err);
  if ("path" in client) {
    if (!client.path) why = "it has no address (a Unix datagram client must bind a path)";
    else if (err instanceof Deno.errors.NotCapable) {
      why = "leave to reach its socket was not granted (run with -N, and --allow-write for the " +
        "folder where clients bind, such as /tmp)";
    }
  } else if (err instanceof Deno.errors.NotCapable) {
    why = "network access to it was not granted (run with -N to answer every client)";
  }
  return `...cannot reply to ${formatAddress(client)}: ${why}`;
}
