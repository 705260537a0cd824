/**
 * `--workers N`: Python's `ForkingMixIn` does its work on every core; this does it with Deno
 * Workers. N copies of the server, each a Worker (a thread with its own event loop) running
 * the same script, listen on the same port with `SO_REUSEPORT`, and the kernel spreads new
 * connections among them. The first thread only starts them, and stops them: one Ctrl-C stops
 * every worker cleanly. A worker with an uncaught error says so in one line and stops as at a
 * Ctrl-C, which closes all it holds, while another takes its place; a replacement that cannot
 * start is tried again after 1 s, then 2, 4, … up to 30 s. Each worker's lines start with
 * `[worker N]`, so the log says which one served a connection.
 *
 * Linux only (elsewhere Deno ignores `reusePort`), and `reusePort` needs `--unstable-net`. A
 * worker loads the script anew, so Deno must also be let read it: `--allow-read` for its folder.
 *
 * @module
 */

import { attempt } from "../lib/cli.ts";
import { Failure, type Runnable, usageError } from "../lib/command.ts";
import { waitingLine } from "./net.ts";
import { type StopTrap, trapStopSignals, within } from "../lib/shutdown.ts";
import { whenStopped } from "./connections.ts";
import type { Console } from "./socket_server.ts";
import { flushLog, LOG_CONSOLE } from "./log.ts";
import { Throttled } from "./throttled.ts";

/** A worker's line to the first thread (its global scope, which Deno's types leave out). */
interface WorkerScope {
  name: string;
  postMessage(message: Report): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

/** What a worker tells the first thread: it listens; it has stopped; it had an uncaught error. */
type Report = { up: true } | { stopped: true } | { died: string };

/** A worker's part: its number (from 1), the port they all share, its line to the first thread. */
export interface WorkerPart {
  number: number;
  port: number;
  console: Console; // where it writes: each line starts with `[worker N] `
  /** Says the worker is up: it listens. */
  up(): void;
  /**
   * The stop, which comes from the first thread: it traps Ctrl-C for all of them. Disposing of
   * it says this worker has stopped: flush the log first (`flushLog()`), or its last lines may
   * come after the first thread's.
   */
  stopTrap(): StopTrap;
}

/** This thread's part, if it is a worker. A worker's name is `worker N, port P`. */
export const WORKER: WorkerPart | undefined = workerPart();

function workerPart(): WorkerPart | undefined {
  if (!("WorkerGlobalScope" in globalThis)) return undefined;
  const [, number, port] = /^worker (\d+), port (\d+)$/.exec(scope.name) ?? [];
  const prefix = `[worker ${number}] `;
  const controller = new AbortController();
  scope.addEventListener("message", (event) => {
    if (event.data?.stop) controller.abort(event.data.stop);
  });
  // An uncaught error: said once, by the first thread, without a stack trace; then this worker
  // stops as at a Ctrl-C. Its listener and connections are closed, which frees what it holds:
  // a worker ended from outside with work pending leaves two descriptors behind in Deno 2.9.6.
  const died = (event: Event, error: unknown) => {
    event.preventDefault();
    if (controller.signal.aborted) return; // stopping already
    scope.postMessage({
      died: error instanceof Error ? `${error.name}: ${error.message}` : `${error}`,
    });
    controller.abort("an uncaught error");
  };
  addEventListener("error", (event) => died(event, event.error ?? event.message));
  addEventListener("unhandledrejection", (event) => died(event, event.reason));
  return {
    number: Number(number),
    port: Number(port),
    console: {
      log: (line) => LOG_CONSOLE.log(prefix + line),
      error: (line) => LOG_CONSOLE.error(prefix + line),
    },
    up: () => scope.postMessage({ up: true }),
    stopTrap() {
      return {
        signal: controller.signal,
        [Symbol.dispose]() {
          scope.postMessage({ stopped: true }); // and the script exits
        },
      };
    },
  };
}

/** How long a stop waits for the workers to finish before it ends them. */
const STOP_DEADLINE_MS = 5000;
/** How long after a replacement could not start another is tried: at first, and at most. */
const RETRY_MS = [1000, 30_000];

/**
 * In the first thread: checks that the port can be shared, then runs `options.workers` workers
 * of `script` (the one being run), on `host` and `port` (0: one free port for all), until
 * Ctrl-C or SIGTERM.
 * @returns The exit code.
 */
export async function runWorkers(
  options: { workers: number; host: string; port: number; unix?: string },
  command: Runnable,
  script: string = Deno.mainModule,
): Promise<number> {
  if (options.unix !== undefined) throw usageError(command, "--workers is for TCP");
  using trap = trapStopSignals();
  const stop = trap.signal;
  const { workers: count, host: hostname, port } = options;
  if (Deno.build.os !== "linux") {
    throw new Failure(`--workers needs SO_REUSEPORT, which Deno has on Linux only`);
  }
  if (typeof Deno.listenDatagram !== "function") {
    throw new Failure("--workers needs Deno's --unstable-net flag (for SO_REUSEPORT)");
  }
  const scripts = new URL("..", import.meta.url); // the repository: scripts/, lib/, server/
  if ((await Deno.permissions.query({ name: "read", path: scripts })).state !== "granted") {
    throw new Failure(
      `--workers needs leave to read the scripts, which each worker loads ` +
        `(run with --allow-read=${scripts.pathname.replace(/\/$/, "")})`,
    );
  }
  // Bind first: a port in use, or not granted, is one line here; port 0 becomes one port for
  // all. Kept until the workers are up, so that no one else takes the port meanwhile.
  const probe = attempt(
    "listen on",
    { hostname, port },
    () => Deno.listen({ hostname, port, reusePort: true }),
  );
  const address = probe.addr;
  const shared = address.port;

  const workers = new Map<number, Worker>(); // the one serving as worker n
  const retired = new Set<Worker>(); // stopping after an uncaught error, replaced already
  const retrying = new Map<number, ReturnType<typeof setTimeout>>(); // n, to be tried again
  const couldNotStart = new Throttled((line) => LOG_CONSOLE.error(line));
  let serving = false; // all were up: from then on, a worker that cannot start is tried again
  let failed = false;
  const ended = new Set<number>();
  let allEnded: () => void;
  const finished = new Promise<void>((resolve) => allEnded = resolve);
  let allUp: () => void;
  const started = new Promise<void>((resolve) => allUp = resolve);
  const up = new Set<number>();
  const done = (n: number) => {
    ended.add(n);
    if (ended.size === count) allEnded();
  };

  // A replacement that could not start: what kept it from it may pass (descriptors, say).
  const retry = (n: number, tries: number, why: string) => {
    const wait = Math.min(RETRY_MS[0] * 2 ** tries, RETRY_MS[1]);
    couldNotStart.note((times) =>
      `worker ${n} could not start: ${why.replace(/\.$/, "")}; trying again in ${wait / 1000} s` +
      (times > 1 ? ` (${times} tries since the last line)` : "")
    );
    retrying.set(n, setTimeout(() => (retrying.delete(n), start(n, tries + 1)), wait));
  };

  const start = (n: number, tries = 0) => {
    let worker: Worker;
    try {
      worker = new Worker(script, { type: "module", name: `worker ${n}, port ${shared}` });
    } catch (err) {
      if (!serving) throw err;
      return retry(n, tries, (err as Error).message);
    }
    workers.set(n, worker);
    let wasUp = false;
    let gone = false;
    // Worker n is done: at a stop, it is counted; else another takes its place.
    const end = (why: string | undefined) => {
      if (gone) return;
      gone = true;
      if (!stop.aborted && !failed) {
        if (wasUp) {
          LOG_CONSOLE.error(`worker ${n} ended${why ? `: ${why}` : ""}; starting another`);
          return start(n);
        }
        if (serving) return retry(n, tries, why ?? "it stopped");
        // It could not start at first: another would not either. Stop them all.
        LOG_CONSOLE.error(`worker ${n} could not start${why ? `: ${why}` : ""}`);
        failed = true;
        allUp();
        for (const other of workers.values()) other.postMessage({ stop: "a worker failed" });
      }
      done(n);
    };
    let stopped = false;
    worker.onmessage = ({ data }: MessageEvent<Report>) => {
      if ("up" in data) {
        wasUp = true;
        up.add(n);
        if (up.size === count) allUp();
      } else if ("died" in data) {
        // It stops by itself, as at a Ctrl-C, while another starts in its place.
        retired.add(worker);
        if (stopped) worker.terminate(); // its loop ended with the error
        else setTimeout(() => worker.terminate(), STOP_DEADLINE_MS);
        end(data.died);
      } else {
        stopped = true;
        if (retired.has(worker)) worker.terminate();
        else if (stop.aborted) end(undefined);
        // Stopped by itself: it failed. Its error, if it had an uncaught one, is on its way.
        else setTimeout(() => end(undefined), 100);
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault(); // said here, once
      worker.terminate();
      end(event.message);
    };
  };
  for (let n = 1; n <= count; n++) start(n);
  await started;
  probe.close();
  if (!failed) {
    serving = true;
    LOG_CONSOLE.log(`${count} workers share the port`);
    LOG_CONSOLE.log(waitingLine(address));
    await new Promise<void>((resolve) => whenStopped(stop, resolve));
    for (const worker of workers.values()) worker.postMessage({ stop: stop.reason });
    for (const [n, timer] of retrying) {
      clearTimeout(timer);
      done(n);
    }
    couldNotStart.flush();
  }
  // Each worker stops as a lone server does, within its own deadlines; this one is for a
  // worker that does not.
  await within(finished, STOP_DEADLINE_MS);
  for (const worker of [...workers.values(), ...retired]) worker.terminate();
  if (failed) return 1;
  LOG_CONSOLE.log(`server stopped (${stop.reason})`);
  await flushLog(); // before the process exits
  return 0;
}
