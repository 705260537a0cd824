/**
 * Stopping cleanly. The first Ctrl-C (SIGINT) or SIGTERM aborts an `AbortSignal`; the script
 * then stops taking new work, finishes what it owes and exits by itself. A second Ctrl-C exits
 * at once with status 130, for when that takes too long.
 *
 * @module
 */

/** How long a stopping server waits for replies in flight before it closes what is left. */
export const DRAIN_DEADLINE_MS = 1000;

/** The stop signals we listen to; Windows has no SIGTERM to listen for. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];

/** What {@linkcode trapStopSignals} returns: the signal, and a way to stop listening. */
export interface StopTrap extends Disposable {
  /** Aborted at the first stop signal; its `reason` is the signal's name. */
  readonly signal: AbortSignal;
}

/**
 * Listens for Ctrl-C and SIGTERM. Dispose of the result (or declare it with `using`) to remove
 * the listeners, so that they no longer keep the process alive.
 *
 * @example Usage
 * ```ts ignore
 * using stop = trapStopSignals();
 * stop.signal.addEventListener("abort", () => listener.close());
 * ```
 */
export function trapStopSignals(): StopTrap {
  const controller = new AbortController();
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = () => {
      if (!controller.signal.aborted) controller.abort(name);
      else if (name === "SIGINT") Deno.exit(130);
    };
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
    },
  };
}

/**
 * Runs `action` when `signal` aborts, or at once if it already has (a listener added to an
 * aborted signal would never run).
 */
export function whenStopped(signal: AbortSignal, action: () => void): void {
  if (signal.aborted) action();
  else signal.addEventListener("abort", action, { once: true });
}

/**
 * Waits for `op`, unless `signal` aborts first: then resolves with `null` at once. This is how
 * a stop interrupts a wait for input, since a pending `read` cannot be cancelled by itself. The
 * abandoned `op` must be ended by closing what it reads from; its outcome is then ignored.
 *
 * @example Usage
 * ```ts ignore
 * const n = await unlessStopped(conn.read(buffer), stop.signal); // null at EOF or stop
 * ```
 */
export function unlessStopped<T>(op: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) {
    op.catch(() => {}); // ended by the close that follows; nothing left to report
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    op.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The connections a server is serving, each with the task that serves it, so that a stop can
 * wait for replies in flight and then close whatever is left.
 */
export class Connections {
  #open = new Map<Deno.Conn, Promise<void>>();

  /** How many connections are open. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Tracks `conn` until `task` settles. The task should handle its own errors; one that
   * escapes is a bug, so it is logged, and the server goes on.
   */
  add(conn: Deno.Conn, task: Promise<void>): void {
    this.#open.set(
      conn,
      task.catch((err) => console.error("unexpected error in a connection:", err))
        .finally(() => this.#open.delete(conn)),
    );
  }

  /**
   * Waits until every task has finished, or `deadlineMs` has passed; then closes the
   * connections still open (say, a client that never reads its reply) and waits for their
   * tasks to end.
   */
  async drain(deadlineMs: number = DRAIN_DEADLINE_MS): Promise<void> {
    const allDone = Promise.all(this.#open.values());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, deadlineMs));
    await Promise.race([allDone, deadline]);
    clearTimeout(timer);
    for (const conn of this.#open.keys()) {
      try {
        conn.close();
      } catch {
        // Closed already, by its own task.
      }
    }
    await Promise.all(this.#open.values());
  }
}
