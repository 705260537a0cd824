/**
 * Stopping cleanly. The first Ctrl-C (SIGINT) or SIGTERM aborts an `AbortSignal`; the script
 * then stops taking new work, finishes what it owes and exits by itself. A second Ctrl-C exits
 * at once with status 130, for when that takes too long.
 *
 * @module
 */

/** The stop signals we listen to; Windows has no SIGTERM to listen for. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];

/** How long a stop waits for replies in flight before it closes what is left. */
export const SHUTDOWN_DEADLINE_MS = 1000;

/** What {@linkcode trapStopSignals} returns: the signal, and a way to stop listening. */
export interface StopTrap extends Disposable {
  /** Aborted at the first stop signal; its `reason` is the signal's name. */
  readonly signal: AbortSignal;
}

/**
 * Listens for Ctrl-C and SIGTERM: `using stop = trapStopSignals()`, and `stop.signal` aborts at
 * the first. Disposing of it removes the listeners, so that they keep the process alive no more.
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

/** Waits for `work` to settle, `ms` at most: how a stop bounds what it waits for. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  await Promise.race([work, deadline]);
  clearTimeout(timer);
}
