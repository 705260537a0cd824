/**
 * `--workers N`: Python's `ForkingMixIn` does its work on every core; this does it with Deno
 * Workers. N copies of the server, each a Worker (a thread with its own event loop) running
 * the same script, listen on the same port with `SO_REUSEPORT`, and the kernel spreads new
 * connections among them. The first thread only starts them, and stops them: one Ctrl-C stops
 * every worker cleanly, and a worker that dies is logged and replaced. Each worker's lines
 * start with `[worker N]`, so the log says which one served a connection.
 *
 * Linux only (elsewhere Deno ignores `reusePort`), and `reusePort` needs `--unstable-net`. A
 * worker loads the script anew, so Deno must also be let read it: `--allow-read` for its folder.
 *
 * @module
 */

import { Failure } from "./errors.ts";
import { type Flag, flag } from "./flags.ts";
import { formatAddress, listenTcp } from "./net.ts";
// shutdown.ts imports this module too (a worker's stop comes from here); each uses the other's
// functions only once both are loaded, so the cycle is safe.
import { type StopTrap, whenStopped, within } from "./shutdown.ts";

/** `--workers N`. */
export const WORKERS_FLAG: Flag<number> = flag.whole(
  "workers",
  1,
  "serve with N threads sharing the port (Linux; needs --unstable-net, --allow-read)",
  { max: 256, value: "N" },
);

/** In a worker: its number, from 1, and the port every worker shares. */
interface WorkerName {
  worker: number;
  port: number;
}

/** A worker's line to the first thread (its global scope, which Deno's types leave out). */
interface WorkerScope {
  name: string;
  postMessage(message: Report): void;
  addEventListener(type: "message", listener: (event: MessageEvent) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

/** This thread's part, if it is a worker: its number and the port to share. */
export const WORKER: WorkerName | undefined = workerName(scope.name);

/** A worker's name is `worker N, port P`: it reads well in Deno's own messages. */
function workerName(name: string): WorkerName | undefined {
  if (!("WorkerGlobalScope" in globalThis)) return undefined;
  const [, worker, port] = /^worker (\d+), port (\d+)$/.exec(name) ?? [];
  return { worker: Number(worker), port: Number(port) };
}

/** What a worker tells the first thread. */
type Report = { up: true } | { stopped: true };

if (WORKER) {
  // Every line a worker writes says which worker it is; its first line says it is up.
  const prefix = `[worker ${WORKER.worker}] `;
  const { log, error } = console;
  let up = false;
  console.log = (first?: unknown, ...rest: unknown[]) => {
    log(typeof first === "string" ? prefix + first : prefix, ...(first === undefined ? [] : rest));
    if (!up) scope.postMessage({ up: up = true });
  };
  console.error = (first?: unknown, ...rest: unknown[]) => {
    error(typeof first === "string" ? prefix + first : prefix, ...rest);
  };
}

/** In a worker, the stop comes from the first thread, which traps Ctrl-C for all of them. */
export function workerStopTrap(): StopTrap {
  const controller = new AbortController();
  scope.addEventListener("message", (event) => {
    if (event.data?.stop) controller.abort(event.data.stop);
  });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      scope.postMessage({ stopped: true }); // and the script exits
    },
  };
}

/** How long a stop waits for the workers to finish before it ends them. */
const STOP_DEADLINE_MS = 5000;

/**
 * In the first thread: checks that the port can be shared, then runs `count` workers of
 * `script` (the one being run), on `hostname` and `port` (0: one free port for all), until
 * `stop` aborts.
 * @returns The exit code.
 */
export async function runWorkers(
  count: number,
  hostname: string,
  port: number,
  stop: AbortSignal,
  script: string = Deno.mainModule,
): Promise<number> {
  if (Deno.build.os !== "linux") {
    throw new Failure(`--workers needs SO_REUSEPORT, which Deno has on Linux only`);
  }
  if (typeof Deno.listenDatagram !== "function") {
    throw new Failure("--workers needs Deno's --unstable-net flag (for SO_REUSEPORT)");
  }
  const scripts = new URL("..", import.meta.url);
  if ((await Deno.permissions.query({ name: "read", path: scripts })).state !== "granted") {
    throw new Failure(
      `--workers needs leave to read the scripts, which each worker loads ` +
        `(run with --allow-read=${scripts.pathname.replace(/\/$/, "")})`,
    );
  }
  // Bind first: a port in use, or not granted, is one line here; port 0 becomes one port for
  // all. Kept until the workers are up, so that no one else takes the port meanwhile.
  const probe = listenTcp(hostname, port, { reusePort: true });
  const address = probe.addr;
  const shared = address.port;

  const workers = new Map<number, Worker>();
  let failed = false;
  const ended = new Set<number>();
  let allEnded: () => void;
  const finished = new Promise<void>((resolve) => allEnded = resolve);
  let allUp: () => void;
  const started = new Promise<void>((resolve) => allUp = resolve);
  const up = new Set<number>();

  const start = (n: number) => {
    const worker = new Worker(script, {
      type: "module",
      name: `worker ${n}, port ${shared}`,
    });
    workers.set(n, worker);
    let wasUp = false;
    let gone = false;
    const end = (why: string | undefined) => {
      if (gone) return;
      gone = true;
      const because = why ? `: ${why}` : "";
      if (!stop.aborted && !failed) {
        if (wasUp) {
          console.error(`worker ${n} ended${because}; starting another`);
          return start(n);
        }
        // It could not start: another would not either. Stop them all.
        console.error(`worker ${n} could not start${because}`);
        failed = true;
        allUp();
        for (const other of workers.values()) other.postMessage({ stop: "a worker failed" });
      }
      ended.add(n);
      if (ended.size === count) allEnded();
    };
    worker.onmessage = (event: MessageEvent<Report>) => {
      if ("up" in event.data) {
        wasUp = true;
        up.add(n);
        if (up.size === count) allUp();
      } else if (stop.aborted) end(undefined);
      // Stopped by itself: it failed. Its error, if it had an uncaught one, is on its way.
      else setTimeout(() => end(undefined), 100);
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
    console.log(`${count} workers share the port`);
    console.log(`waiting for connection on ${formatAddress(address)}...`);
    await new Promise<void>((resolve) => whenStopped(stop, resolve));
    for (const worker of workers.values()) worker.postMessage({ stop: stop.reason });
  }
  // Each worker stops as a lone server does, within its own deadlines; this one is for a
  // worker that does not.
  await within(finished, STOP_DEADLINE_MS);
  for (const worker of workers.values()) worker.terminate();
  if (failed) return 1;
  console.log(`server stopped (${stop.reason})`);
  return 0;
}
