/**
 * Stopping cleanly. The first Ctrl-C (SIGINT) or SIGTERM aborts an `AbortSignal`: the server
 * takes no new work, finishes what it owes within a deadline, and exits by itself. A second
 * Ctrl-C exits at once with status 130. And not stopping: a failed `accept()` is survived.
 *
 * @module
 */

/** How long a stop waits for replies in flight before it closes what is left. */
export const SHUTDOWN_DEADLINE_MS = 1000;

/** What {@linkcode trapStopSignals} returns: the signal, aborted at the first stop signal. */
export interface StopTrap extends Disposable {
  readonly signal: AbortSignal; // its `reason` is the signal's name
}

/** Listens for Ctrl-C and SIGTERM, until disposed of: `using stop = trapStopSignals()`. */
export function trapStopSignals(): StopTrap {
  const controller = new AbortController();
  const names: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handlers = names.map((name) => {
    const handler = () => {
      if (!controller.signal.aborted) controller.abort(name);
      else if (name === "SIGINT") Deno.exit(130);
    };
    Deno.addSignalListener(name, handler);
    return [name, handler] as const;
  });
  return {
    signal: controller.signal,
    [Symbol.dispose]: () => handlers.forEach((args) => Deno.removeSignalListener(...args)),
  };
}

/** Waits for `work` to settle, `ms` at most: how a stop bounds what it waits for. */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

/**
 * `op`, unless `signal` aborts first: then `null` at once. This is how a stop ends a `read()`
 * that waits, which cannot be cancelled; closing the connection then ends the read itself.
 */
export function unlessStopped<T>(op: Promise<T>, signal: AbortSignal): Promise<T | null> {
  op.catch(() => {}); // once stopped, how it ends is of no interest
  if (signal.aborted) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    op.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** `accept()`'s failures that concern one connection (gone before we took it): skip it. */
export const ONE_CONNECTION = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  "EPERM",
]);
/** `accept()`'s failures for want of descriptors or memory: wait, and accept again. */
export const OUT_OF_RESOURCES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);
export const BACKOFF_MS = 100; // before accepting again, out of descriptors
let starvedAt = -Infinity;

/**
 * After `accept()` failed with `err`: goes on at once past a client gone before we took it, or
 * a moment later when out of descriptors (said once a second; clients wait in the kernel's
 * queue meanwhile). Any other failure is thrown.
 */
export async function acceptAgain(err: unknown): Promise<void> {
  const code = (err as { code?: string }).code ?? "";
  if (ONE_CONNECTION.has(code) || err instanceof Deno.errors.NotConnected) return;
  if (!OUT_OF_RESOURCES.has(code)) throw err;
  if (performance.now() - starvedAt > 1000) {
    console.error(`accept failed: ${(err as Error).message}; retrying every ${BACKOFF_MS} ms`);
    starvedAt = performance.now();
  }
  await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS));
}
