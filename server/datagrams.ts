/**
 * A datagram server's rules, the same for `tsUserv.ts` and `DatagramServer`. UDP has no
 * connections: one socket receives from everyone and answers each sender. A failure that
 * concerns one sender is said, and the server goes on; a stop closes the socket, which ends a
 * `receive()` that waits, once the replies in flight are out.
 *
 * @module
 */

import { formatAddress } from "../lib/command.ts";
import { SHUTDOWN_DEADLINE_MS, within } from "../lib/shutdown.ts";
import { whenStopped } from "./connections.ts";
import { Throttled } from "./throttled.ts";

/** Replies to Unix datagram clients that may never read them: `UnreadReplies` in server/unix.ts. */
interface UnreadReplies {
  readonly draining: boolean;
  receive(current: Deno.DatagramConn, buffer: Uint8Array): Promise<[Uint8Array, Deno.Addr]>;
  close(): void;
  send(
    socket: Deno.DatagramConn,
    client: Deno.UnixAddr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
    stopping: AbortSignal,
  ): Promise<{ sent: boolean; socket: Deno.DatagramConn }>;
}

const SENT = () => true;

/** The replies a datagram server has in flight on its socket, and how the socket is closed. */
export class Replies {
  #socket: Deno.DatagramConn;
  readonly #path?: string; // over AF_UNIX, where we listen: the socket may change, not this
  #unread?: UnreadReplies; // over AF_UNIX, from server/unix.ts
  #unanswered: Throttled; // senders that got no reply: a line a second, however many
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
    this.#path = (socket.addr as Deno.UnixAddr).path;
    this.#unanswered = new Throttled(warn);
    whenStopped(signal, () => this.close());
  }

  /** The socket: over AF_UNIX, a new one after {@linkcode send} gave one up. */
  get socket(): Deno.DatagramConn {
    return this.#socket;
  }

  /**
   * `recvfrom()`: the next datagram and its sender. Over AF_UNIX, after {@linkcode send} gave a
   * socket up, what came to it before the new one took our path is received too.
   */
  receive(buffer: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    if (!this.#unread?.draining) return this.#socket.receive(buffer); // (the hot path)
    return this.#unread.receive(this.#socket, buffer);
  }

  /**
   * Sends a reply to `client` with `sendTo(socket)` (`socket.send(data, client)`): `true` if it
   * went out. Over AF_UNIX, a sender that never reads its replies fills its queue, and past that
   * Deno's `send()` would hold the socket for good: `UnreadReplies` (server/unix.ts) drops
   * such a reply (`false`), and gives us a new socket at our path to go on with.
   * @throws What `send()` throws: a failure that concerns `client` (see {@linkcode cannotReply}).
   */
  send(
    client: Deno.Addr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
  ): Promise<boolean> {
    // UDP never waits for its receiver; nor does a refusal. (Not async: the hot path.)
    if (!("path" in client) || !client.path) return sendTo(this.#socket).then(SENT);
    return this.#sendUnix(client, sendTo);
  }

  async #sendUnix(
    client: Deno.UnixAddr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
  ): Promise<boolean> {
    this.#unread ??= new (await import("./unix.ts")).UnreadReplies(this.warn, this.#path!);
    const { sent, socket } = await this.#unread.send(this.#socket, client, sendTo, this.signal);
    this.#socket = socket;
    return sent;
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

  /**
   * Says on `warn` why `client` got no reply ({@linkcode cannotReply}): at most a line a second,
   * with how many, since any sender (one with no address, say) can make it happen at will.
   */
  unanswered(err: unknown, client: Deno.Addr): void {
    const line = cannotReply(err, client);
    this.#unanswered.note((n) => n > 1 ? `${line} (and ${n - 1} more since the last line)` : line);
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
      this.#socket.close(); // DatagramConn has no Symbol.dispose for `using`
      this.#unanswered.flush(); // the stop must not swallow a line
      this.#unread?.close();
      // The extra that bound it, loaded already, removes the file if it is still ours.
      if (this.#path) (await import("./unix.ts")).removeIfOurs(this.#path);
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
