#!/usr/bin/env -S deno run -N --unstable-net --allow-run --allow-read=.,/tmp --allow-write=bench,/tmp --allow-sys=osRelease
/**
 * The benchmark: our servers and, side by side, the same servers written the obvious way in
 * Node, Python and Go, a bare Deno loop (the floor for a Deno program) and a C epoll server
 * (the machine's), all in `bench/peers/`, and the book's one-at-a-time loop. Not a test: it
 * prints figures, and writes them with `--out`.
 *
 * ```sh
 * deno task bench                       # about 25 minutes
 * deno task bench --quick               # 2 to 3 minutes: a smoke run, fewer rows
 * deno task bench --out bench/results   # also write results.md, results.json and chart.svg
 * ```
 *
 * How it measures, so that figures from a busy shared machine still mean something:
 * - The load comes from `bench/load.c`, built with the system's `cc` at the start: it checks
 *   every reply as `tsLoad.ts` does, at a fraction of its CPU, so that the load generator is not
 *   what sets the pace. (TLS loads use `tsLoad.ts`, as the C one speaks no TLS.) Each row gives
 *   the load generator's share of its core; above 85%, the row is marked as limited by the
 *   load, and its requests/s are not used for a verdict.
 * - Servers run on CPU 0 and the load generator on CPU 1 (`taskset`, where present), so they
 *   do not take turns on one core.
 * - Each server is warmed up first, then the runs are interleaved (A B C A B C …) and each
 *   figure is the median of its runs: a slow minute hurts every server alike.
 * - Server CPU time per request comes from `/proc/PID/stat` over each run (all threads). It
 *   holds even when the load generator, not the server, is what limits requests/s.
 * - Figures are also given as ratios to the Node server, the bare Deno loop and the C server
 *   measured in the same run; only those ratios compare across machines.
 *
 * @module
 */

import { type Command, flag } from "../server/flags.ts";
import type { LoadResult } from "./load_engine.ts";
import { cpuSeconds, cpuTicks, type Listening, memoryKiB, startListening } from "../tools/proc.ts";
import { denoArgs, optionsOrExit } from "../tools/scripts.ts";
import { certs } from "../tools/certs.ts";
import { buildC, buildGo, type Built } from "./build.ts";
import { chart } from "./chart.ts";
import {
  type Anchor,
  LOAD_LIMIT,
  type LoadGeneratorRow,
  type Machine,
  median,
  type MemoryRow,
  perConnection,
  render,
  type Row,
} from "./report.ts";

const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();
const deno = Deno.execPath();

/** A server to measure: how to start it. Each prints its port once it listens. */
interface Server {
  label: string;
  command: string[];
  /** Why it cannot run here (a compiler missing): it is skipped, with this line. */
  missing?: string;
  /** One of the servers the others are compared to: Node's, the bare Deno loop, C's. */
  anchor?: Anchor;
  ours?: boolean;
  /** Where it listens, if on a Unix socket: the load generator goes there. */
  unix?: string;
  /** The cores it runs on, if not CPU 0 alone (`taskset -c` syntax). */
  cores?: string;
}

// Throw-away certificates for the TLS loads (a CA, and a leaf for localhost).
const tls = await certs();
const readCerts = `--allow-read=${tls.dir}`;
const withTls = ["--tls-cert", tls.cert, "--tls-key", tls.key];

/** Ours: the production server, `tsd --proto proto -q`. */
const ourServer = (proto: string, extra: string[] = [], denoFlags = [readCerts]): string[] => {
  const args = ["--proto", proto, "--host", "127.0.0.1", "--port", "0", "-q", ...extra];
  const [run, ...rest] = denoArgs("tsd.ts", args);
  return [deno, run, ...denoFlags, ...rest];
};
/** A lesson, as it is: no `-q` (its log goes to a pipe the bench reads), no tuning. */
const lesson = (script: string): string[] => [
  deno,
  ...denoArgs(script, ["--host", "127.0.0.1", "--port", "0"]),
];

// Unix sockets: a path for each server, and Deno's leave to use them.
const unixPath = (name: string) => `/tmp/ts-deno-bench-${name}-${Deno.pid}.sock`;
const unixAccess = (
  path: string,
) => [`--allow-read=${path}`, `--allow-write=${path}`, "--allow-sys"];
const OURS_UNIX = unixPath("ours");
const NODE_UNIX = unixPath("node");
// The compiled programs, built into a folder of this run, removed at the end.
const built = await Deno.makeTempDir({ prefix: "ts-deno-bench-" });
globalThis.addEventListener("unload", () => Deno.removeSync(built, { recursive: true }));
const [loadC, serverC, serverGo] = await Promise.all([
  buildC(`${root}bench/load.c`, `${built}/load`),
  buildC(`${root}bench/peers/epoll_server.c`, `${built}/epoll_server`),
  buildGo(`${root}bench/peers/go_server.go`, `${built}/go_server`, `${built}/go`),
]);
/** A built program's command line, or why it is missing. */
const compiled = (program: Built, mode: string) =>
  "path" in program ? { command: [program.path, mode] } : { command: [], missing: program.missing };
const bare = (
  mode: string,
) => [deno, "run", "-N", "--unstable-net", "bench/peers/deno_bare.ts", mode];

const nodeTls = (mode: string) => [
  "env",
  `TLS_CERT=${tls.cert}`,
  `TLS_KEY=${tls.key}`,
  ...["node", "bench/peers/node_server.mjs", mode],
];

const SERVERS: Record<string, Server> = {
  tsd: { label: "tsd --proto tcp (ours)", command: ourServer("tcp"), ours: true },
  tsdUdp: { label: "tsd --proto udp (ours)", command: ourServer("udp"), ours: true },
  tsdSS: { label: "tsd --proto ss (ours)", command: ourServer("ss"), ours: true },
  tsdTls: { label: "tsd --proto tcp, TLS (ours)", command: ourServer("tcp", withTls), ours: true },
  tsdSSTls: { label: "tsd --proto ss, TLS (ours)", command: ourServer("ss", withTls), ours: true },
  tsdUnix: {
    label: "tsd --proto tcp, Unix socket (ours)",
    command: ourServer("tcp", ["--unix", OURS_UNIX], unixAccess(OURS_UNIX)),
    ours: true,
    unix: OURS_UNIX,
  },
  tsdSSUnix: {
    label: "tsd --proto ss, Unix socket (ours)",
    command: ourServer("ss", ["--unix", OURS_UNIX], unixAccess(OURS_UNIX)),
    ours: true,
    unix: OURS_UNIX,
  },
  // --workers 2 on both cores, which the load generator shares: see server/README.md.
  tsdWorkers: {
    label: "tsd --workers 2, on both CPUs (ours)",
    command: ourServer("tcp", ["--workers", "2"], [`--allow-read=${root}`]),
    ours: true,
    cores: "0,1",
  },
  tsdOnBoth: {
    label: "tsd, on both CPUs (ours)",
    command: ourServer("tcp"),
    ours: true,
    cores: "0,1",
  },
  // The lessons, beside it: what the production rules cost over the book's plain loop.
  tsTserv: { label: "tsTserv (the lesson)", command: lesson("tsTserv.ts") },
  tsUserv: { label: "tsUserv (the lesson)", command: lesson("tsUserv.ts") },
  tsTservSS: { label: "tsTservSS (the lesson)", command: lesson("tsTservSS.ts") },
  nodeTls: { label: "Node tls", command: nodeTls("tls"), anchor: "node" },
  nodeTlsSS: {
    label: "Node tls, a connection per line",
    command: nodeTls("tls-ss"),
    anchor: "node",
  },
  nodeNet: {
    label: "Node net",
    command: ["node", "bench/peers/node_server.mjs", "tcp"],
    anchor: "node",
  },
  nodeNetOnBoth: {
    label: "Node net, on both CPUs",
    command: ["node", "bench/peers/node_server.mjs", "tcp"],
    anchor: "node",
    cores: "0,1",
  },
  nodeNetUnix: {
    label: "Node net, Unix socket",
    command: ["node", "bench/peers/node_server.mjs", "tcp", NODE_UNIX],
    anchor: "node",
    unix: NODE_UNIX,
  },
  nodeSSUnix: {
    label: "Node net, Unix socket, a connection per line",
    command: ["node", "bench/peers/node_server.mjs", "ss", NODE_UNIX],
    anchor: "node",
    unix: NODE_UNIX,
  },
  nodeDgram: {
    label: "Node dgram",
    command: ["node", "bench/peers/node_server.mjs", "udp"],
    anchor: "node",
  },
  nodeSS: {
    label: "Node net, a connection per line",
    command: ["node", "bench/peers/node_server.mjs", "ss"],
    anchor: "node",
  },
  // The floor for a Deno program: the least a right Deno server can do (bench/peers/).
  bareTcp: { label: "bare Deno loop", command: bare("tcp"), anchor: "deno" },
  bareSS: { label: "bare Deno loop, a connection per line", command: bare("ss"), anchor: "deno" },
  bareUdp: { label: "bare Deno loop", command: bare("udp"), anchor: "deno" },
  // Go written the obvious way: a goroutine per connection.
  goTcp: { label: "Go net", ...compiled(serverGo, "tcp") },
  goSS: { label: "Go net, a connection per line", ...compiled(serverGo, "ss") },
  goUdp: { label: "Go net", ...compiled(serverGo, "udp") },
  // The machine's limit: C on epoll.
  cTcp: { label: "C epoll", ...compiled(serverC, "tcp"), anchor: "c" },
  cSS: { label: "C epoll, a connection per line", ...compiled(serverC, "ss"), anchor: "c" },
  cUdp: { label: "C epoll", ...compiled(serverC, "udp"), anchor: "c" },
  asyncio: { label: "Python asyncio", command: ["python3", "bench/peers/python_servers.py"] },
  threading: {
    label: "Python ThreadingTCPServer",
    command: ["python3", "bench/peers/python_servers.py", "threading"],
  },
  threadingSS: {
    label: "Python ThreadingTCPServer",
    command: ["python3", "bench/peers/python_servers.py", "threading-ss"],
  },
  book: {
    label: "the book's loop (one at a time)",
    command: ["python3", "tests/peers/book_peers.py", "tcp-server", "0"],
  },
};

/** A load, and the servers measured under it. */
interface Scenario {
  id: string;
  title: string;
  proto: "tcp" | "udp" | "ss";
  /** Over TLS: `tsLoad.ts` then verifies the server's certificate against our CA. */
  tls?: boolean;
  conns: number;
  servers: string[];
  /** The servers `--quick` keeps; a load without them is not run by `--quick`. */
  quick?: string[];
}

const SCENARIOS: Scenario[] = [
  {
    id: "tcp1",
    title: "TCP, 1 connection",
    proto: "tcp",
    conns: 1,
    servers: ["tsd", "tsTserv", "nodeNet", "bareTcp", "cTcp"],
  },
  {
    id: "tcp16",
    title: "TCP, 16 connections",
    proto: "tcp",
    conns: 16,
    servers: [
      "tsd",
      "tsTserv",
      "nodeNet",
      "bareTcp",
      "goTcp",
      "cTcp",
      "asyncio",
      "threading",
      "book",
    ],
    quick: ["tsd", "tsTserv", "nodeNet", "bareTcp", "cTcp", "book"],
  },
  {
    id: "tcp128",
    title: "TCP, 128 connections",
    proto: "tcp",
    conns: 128,
    servers: ["tsd", "tsTserv", "nodeNet", "bareTcp", "goTcp", "cTcp", "asyncio", "threading"],
    quick: ["tsd", "tsTserv", "nodeNet", "bareTcp", "cTcp"],
  },
  {
    id: "udp16",
    title: "UDP, 16 clients",
    proto: "udp",
    conns: 16,
    servers: ["tsdUdp", "tsUserv", "nodeDgram", "bareUdp", "goUdp", "cUdp"],
    quick: ["tsdUdp", "tsUserv", "nodeDgram", "bareUdp", "cUdp"],
  },
  {
    id: "ss16",
    title: "A connection per line, 16 clients",
    proto: "ss",
    conns: 16,
    servers: ["tsdSS", "tsTservSS", "nodeSS", "bareSS", "goSS", "cSS", "threadingSS"],
    quick: ["tsdSS", "tsTservSS", "nodeSS", "bareSS", "cSS"],
  },
  {
    id: "unix16",
    title: "Unix socket, 16 connections",
    proto: "tcp",
    conns: 16,
    servers: ["tsdUnix", "nodeNetUnix"],
  },
  {
    id: "unixss16",
    title: "Unix socket, a connection per line, 16 clients",
    proto: "ss",
    conns: 16,
    servers: ["tsdSSUnix", "nodeSSUnix"],
  },
  {
    id: "workers128",
    title: "TCP, 128 connections, server on both CPUs",
    proto: "tcp",
    conns: 128,
    servers: ["tsdWorkers", "tsdOnBoth", "nodeNetOnBoth"],
  },
  {
    id: "tls16",
    title: "TLS, 16 connections",
    proto: "tcp",
    tls: true,
    conns: 16,
    servers: ["tsdTls", "nodeTls"],
  },
  {
    id: "tlsss16",
    title: "TLS, a connection (and handshake) per line, 16 clients",
    proto: "ss",
    tls: true,
    conns: 16,
    servers: ["tsdSSTls", "nodeTlsSS"],
  },
];

/** Servers whose memory is measured with 1,000, then 3,000 idle connections. */
const MEMORY_SERVERS = ["tsd", "tsdSS", "tsTserv", "nodeNet", "bareTcp", "goTcp", "cTcp"];
/** Descriptors the memory test needs, in the bench and in each server. */
const MEMORY_FILES = 3200;

const COMMAND = {
  script: "bench/bench.ts",
  about: "our servers beside Node's and Python's, under the same loads",
  run:
    "-N --unstable-net --allow-run --allow-read=.,/tmp --allow-write=bench,/tmp --allow-sys=osRelease",
  flags: {
    quick: flag.onOff("quick", "a smoke run of about 2 minutes: fewer loads and servers"),
    runs: {
      ...flag.whole("runs", 5, "runs per server and load, interleaved (default 5; quick 3)", {
        max: 20,
        value: "N",
      }),
      default: undefined,
    },
    seconds: {
      ...flag.seconds("seconds", 4, "seconds per run (default 4; quick 2)", { max: 60 }),
      default: undefined,
    },
    out: {
      ...flag.file("out", "also write DIR/results.md, results.json and chart.svg"),
      value: "DIR",
    },
  },
} satisfies Command;

const flags = await optionsOrExit(COMMAND);
// Even a smoke run interleaves 3 runs of 2 s: one short run each once gave the opposite verdict.
const runs = Math.max(flags.runs ?? (flags.quick ? 3 : 5), flags.quick ? 3 : 1);
const seconds = Math.max(flags.seconds ?? (flags.quick ? 2 : 4), flags.quick ? 2 : 0);
const warmupSeconds = flags.quick ? 1 : 2;
const scenarios = flags.quick ? SCENARIOS.filter((scenario) => scenario.quick) : SCENARIOS;

// Say so now, not after the whole run, if the results could not be written.
if (
  flags.out && Deno.permissions.querySync({ name: "write", path: flags.out }).state !== "granted"
) {
  console.error(`error: --out ${flags.out}: \`deno task bench\` may write under bench/ only`);
  Deno.exit(2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function has(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

for (const [command, why] of [["node", "the Node servers"], ["python3", "the Python servers"]]) {
  if (!(await has(command, ["--version"]))) {
    console.error(`error: ${command} is not on the PATH; the benchmark needs it for ${why}`);
    Deno.exit(2);
  }
}

// Servers on one core, the load generator on the other, if the machine lets us.
const pinned = navigator.hardwareConcurrency >= 2 && await has("taskset", ["-c", "0", "true"]);
const onCore = (cores: string, command: string[]) =>
  pinned ? ["taskset", "-c", cores, ...command] : command;

interface Running extends Listening {
  id: string;
}

/** Starts a server on a free loopback port, and waits until it says which. */
async function start(id: string): Promise<Running> {
  const { command, cores = "0" } = SERVERS[id];
  return { id, ...await startListening(onCore(cores, command), root) };
}

async function stop(server: Running): Promise<void> {
  server.child.kill("SIGTERM");
  const killer = setTimeout(() => server.child.kill("SIGKILL"), 3000);
  await server.child.status;
  clearTimeout(killer);
  const stderr = (await server.stderr).trim();
  // Python's servers print a traceback for Ctrl-C-like stops; only ours must stay silent.
  if (stderr && SERVERS[server.id].ours) console.error(`${server.id} said:\n${stderr}`);
}

/** One run's figures. */
interface Sample {
  rate: number;
  p50: number;
  p99: number;
  /** Server CPU time per request answered, in microseconds. */
  cpu: number;
  answered: number;
  errors: number;
  /**
   * The load generator's core's busy share: its own CPU, and the kernel's network work on that
   * core, which its own CPU time misses. Unpinned, its own CPU only.
   */
  loadCpu: number;
  /** The load generator's own CPU time per request answered, in microseconds. */
  loadCpuPerRequest: number;
}

/** The load generator a load uses: ours in C, unless it is TLS (or C could not be built). */
const loadGenerator = (scenario: Scenario) =>
  scenario.tls || !("path" in loadC) ? "tsLoad" : "load.c";

/** The load generator's command line for a run of `duration` seconds against `server`. */
function loadCommand(server: Running, scenario: Scenario, duration: number, generator: string) {
  const { unix } = SERVERS[server.id];
  const where = unix ? ["--unix", unix] : ["--host", "127.0.0.1", "-p", String(server.port)];
  const common = ["--proto", scenario.proto, "-c", String(scenario.conns), "-d", String(duration)];
  if (generator === "load.c" && "path" in loadC) {
    return [loadC.path, ...common, "--warmup", "0", ...where];
  }
  const [run, ...load] = denoArgs("tsLoad.ts", [
    ...["--json", "--warmup", "0", ...common],
    ...(unix ? ["--unix", unix] : ["-p", String(server.port)]),
    ...(scenario.tls ? ["--tls", "--ca", tls.ca, "--host", "localhost"] : []),
  ]);
  const access = scenario.tls ? [readCerts] : unix ? unixAccess(unix) : [];
  return [deno, run, ...access, ...load];
}

/** Runs the load generator against `server` for `duration` seconds. */
async function measure(
  server: Running,
  scenario: Scenario,
  duration: number,
  generator = loadGenerator(scenario),
): Promise<Sample> {
  const [command, ...args] = onCore("1", loadCommand(server, scenario, duration, generator));
  const before = await cpuSeconds(server.child.pid);
  const coreBefore = pinned ? await cpuTicks(1) : undefined;
  const output = await new Deno.Command(command, { args, cwd: root, stderr: "inherit" }).output();
  const coreAfter = pinned ? await cpuTicks(1) : undefined;
  const after = await cpuSeconds(server.child.pid);
  const json = decoder.decode(output.stdout);
  if (!json.startsWith("{")) {
    throw new Error(`${generator} against ${server.id} printed no figures (its error is above)`);
  }
  const result: LoadResult = JSON.parse(json); // a latency with no request at all is null
  if (result.errors > 0) {
    console.error(`${server.id}: ${result.errors} errors: ${JSON.stringify(result.errorKinds)}`);
  }
  const perRequest = (seconds: number) =>
    result.requests > 0 ? (seconds * 1e6) / result.requests : NaN;
  return {
    rate: result.rate,
    p50: result.latency.p50 ?? NaN,
    p99: result.latency.p99 ?? NaN,
    cpu: perRequest(after - before),
    answered: result.connsServed,
    errors: result.errors,
    loadCpu: coreBefore && coreAfter
      ? Math.max(
        result.loadCpu,
        (coreAfter.busy - coreBefore.busy) / (coreAfter.total - coreBefore.total),
      )
      : result.loadCpu,
    loadCpuPerRequest: perRequest(result.loadCpu * result.seconds),
  };
}

/** A run the hypervisor took more of the CPUs' time from (steal) than this is run again. */
const STEAL_LIMIT = 0.05;
const STEAL_RETRIES = 2;
/** How many runs were run again for steal, and how many still had more after their retries. */
const stolen = { again: 0, kept: 0 };

/** The share of the CPUs' time the hypervisor took between two readings. */
const stealShare = (before: Ticks, after: Ticks) =>
  (after.steal - before.steal) / (after.total + after.steal - before.total - before.steal);
type Ticks = Awaited<ReturnType<typeof cpuTicks>>;

/**
 * {@linkcode measure}, run again (twice at most) while the hypervisor takes more than
 * `STEAL_LIMIT` of the CPUs' time: on a shared machine, such a run measures the neighbours.
 */
async function measureFairly(
  server: Running,
  scenario: Scenario,
  duration: number,
  generator?: string,
): Promise<Sample> {
  for (let tries = 0;; tries++) {
    const before = await cpuTicks("all");
    const sample = await measure(server, scenario, duration, generator);
    const steal = stealShare(before, await cpuTicks("all"));
    if (steal <= STEAL_LIMIT) return sample;
    if (tries === STEAL_RETRIES) {
      stolen.kept++;
      return sample;
    }
    stolen.again++;
  }
}

async function runScenario(scenario: Scenario): Promise<Row[]> {
  const ids = ((flags.quick ? scenario.quick : undefined) ?? scenario.servers).filter((id) => {
    const { missing, label } = SERVERS[id];
    if (missing) console.log(`  ${label}: skipped, ${missing}`);
    return !missing;
  });
  const servers: Running[] = [];
  try {
    for (const id of ids) servers.push(await start(id));
    for (const server of servers) await measure(server, scenario, warmupSeconds); // warm-up
    const samples = new Map<string, Sample[]>(ids.map((id) => [id, []]));
    for (let run = 0; run < runs; run++) {
      for (const server of servers) {
        samples.get(server.id)!.push(await measureFairly(server, scenario, seconds));
      }
    }
    return ids.map((id) => {
      const list = samples.get(id)!;
      const figure = (key: keyof Sample) => median(list.map((sample) => sample[key]));
      return {
        scenario: scenario.id,
        server: id,
        label: SERVERS[id].label,
        ours: SERVERS[id].ours ?? false,
        anchor: SERVERS[id].anchor ?? null,
        rate: figure("rate"),
        p50: figure("p50"),
        p99: figure("p99"),
        cpu: figure("cpu"),
        answered: figure("answered"),
        loadCpu: figure("loadCpu"),
        load: loadGenerator(scenario),
        conns: scenario.conns,
        errors: list.reduce((sum, sample) => sum + sample.errors, 0),
      };
    });
  } finally {
    await Promise.all(servers.map(stop));
  }
}

async function idleMemory(id: string): Promise<MemoryRow> {
  const server = await start(id);
  const conns: Deno.Conn[] = [];
  // Each connection is served once (the line server waits for its line instead), then idles.
  const served = id !== "tsdSS";
  const buffer = new Uint8Array(256);
  const openIdle = async (count: number) => {
    for (let i = 0; i < count; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        conns.push(conn);
        if (!served) return;
        await conn.write(new TextEncoder().encode("hello"));
        await conn.read(buffer);
      }));
    }
    await sleep(1500); // for the server to settle
    return await memoryKiB(server.child.pid, "VmRSS");
  };
  try {
    await sleep(1000);
    const idleKiB = await memoryKiB(server.child.pid, "VmRSS");
    const loadedKiB = await openIdle(1000);
    const loaded3KiB = await openIdle(2000);
    const { label, ours = false } = SERVERS[id];
    return { server: id, label, ours, idleKiB, loadedKiB, loaded3KiB };
  } finally {
    for (const conn of conns) conn.close();
    await stop(server);
  }
}

async function version(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await new Deno.Command(command, { args }).output();
    return (decoder.decode(stdout) + decoder.decode(stderr)).trim().split("\n")[0];
  } catch {
    return `${command}: not found`;
  }
}

async function cpuModel(): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] }).output();
  return decoder.decode(stdout).match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
}

// ---------------------------------------------------------------------------------------------

const started = performance.now();
const ticksAtStart = await cpuTicks("all");
const machine: Machine = {
  date: new Date().toISOString().slice(0, 10),
  deno: Deno.version.deno,
  node: await version("node", ["--version"]),
  python: await version("python3", ["--version"]),
  go: "path" in serverGo ? await version("go", ["version"]) : "no Go",
  cc: await version("cc", ["--version"]),
  cpu: await cpuModel(),
  cpus: navigator.hardwareConcurrency,
  kernel: `${Deno.build.os} ${Deno.osRelease()}`,
  pinned,
  runs,
  seconds,
  quick: flags.quick,
};
console.log(
  `bench ${machine.date}: Deno ${machine.deno}, Node ${machine.node}, ${machine.python}, ` +
    `${machine.go}, ${machine.cc}; ${machine.cpu}, ${machine.cpus} CPUs, ${machine.kernel}; ` +
    (pinned ? "servers on CPU 0, load on CPU 1" : "not pinned (no taskset)") +
    `; ${runs} run(s) of ${seconds} s per server and load, interleaved`,
);

if (flags.quick) {
  console.log(
    `a smoke run (--quick): ${scenarios.length} loads, ${runs} runs of ${seconds} s each; ` +
      "the full run's figures are the ones to quote",
  );
}
for (const [name, program] of [["the load generator", loadC], ["the C server", serverC]] as const) {
  if ("missing" in program) console.log(`${name} could not be built (${program.missing})`);
}

const rows: Row[] = [];
for (const scenario of scenarios) {
  console.log(`${scenario.title} (load from ${loadGenerator(scenario)}):`);
  const scenarioRows = await runScenario(scenario);
  rows.push(...scenarioRows);
  for (const row of scenarioRows) {
    const limited = row.loadCpu > LOAD_LIMIT ? ", so it was the limit" : "";
    console.log(
      `  ${row.label}: ${Math.round(row.rate)} requests/s, ` +
        `p50 ${row.p50.toFixed(3)} ms, p99 ${row.p99.toFixed(3)} ms, ` +
        `${row.cpu.toFixed(1)} µs CPU per request, ${row.answered} of ${row.conns} answered, ` +
        `load generator at ${Math.round(row.loadCpu * 100)}%${limited}`,
    );
  }
}

/**
 * The load generators themselves, against the C server (TCP, 16 connections), interleaved: what
 * each spends of its own CPU per request, and its share of its core.
 */
async function loadGenerators(): Promise<LoadGeneratorRow[]> {
  if (SERVERS.cTcp.missing || !("path" in loadC)) return [];
  const scenario = SCENARIOS.find((scenario) => scenario.id === "tcp16")!;
  const server = await start("cTcp");
  const generators = ["load.c", "tsLoad"];
  const samples = new Map<string, Sample[]>(generators.map((name) => [name, []]));
  try {
    for (const name of generators) await measure(server, scenario, warmupSeconds, name);
    for (let run = 0; run < runs; run++) {
      for (const name of generators) {
        samples.get(name)!.push(await measureFairly(server, scenario, seconds, name));
      }
    }
  } finally {
    await stop(server);
  }
  return generators.map((name) => {
    const list = samples.get(name)!;
    return {
      generator: name,
      rate: median(list.map((sample) => sample.rate)),
      cpu: median(list.map((sample) => sample.loadCpuPerRequest)),
      share: median(list.map((sample) => sample.loadCpu)),
    };
  });
}

console.log("The load generators, against the C server, TCP, 16 connections:");
const generators = await loadGenerators();
for (const row of generators) {
  console.log(
    `  ${row.generator}: ${Math.round(row.rate)} requests/s, ${row.cpu.toFixed(1)} µs of its ` +
      `own CPU per request, ${Math.round(row.share * 100)}% of its core`,
  );
}
// Node leaves its socket file when it is killed; ours remove theirs at a stop.
for (const path of [OURS_UNIX, NODE_UNIX]) await Deno.remove(path).catch(() => {});

const memory: MemoryRow[] = [];
const files = Number(
  decoder.decode((await new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).output()).stdout),
);
const memoryServers = (flags.quick ? ["tsd", "tsTserv", "nodeNet", "bareTcp"] : MEMORY_SERVERS)
  .filter((id) => !SERVERS[id].missing);
if (files < MEMORY_FILES) {
  console.log(`Idle connections: skipped, as \`ulimit -n\` is ${files}; it needs ${MEMORY_FILES}`);
} else console.log("Idle connections:");
// A server's heap grows in steps, so one run may catch it just past one: the median of three
// fresh servers each (one in a smoke run), interleaved.
const memoryRuns = flags.quick ? 1 : 3;
const memorySamples = new Map<string, MemoryRow[]>(memoryServers.map((id) => [id, []]));
for (let run = 0; run < memoryRuns; run++) {
  for (const id of files < MEMORY_FILES ? [] : memoryServers) {
    memorySamples.get(id)!.push(await idleMemory(id));
  }
}
for (const samples of files < MEMORY_FILES ? [] : memorySamples.values()) {
  // The run with the median cost per further connection, whole: its figures belong together.
  samples.sort((a, b) => perConnection(a).next - perConnection(b).next);
  const row = samples[(samples.length - 1) >> 1];
  memory.push(row);
  const { first, next } = perConnection(row);
  console.log(
    `  ${row.label}: ${(row.loadedKiB / 1024).toFixed(1)} MiB with 1,000; ` +
      `${(first / 1000).toFixed(1)} kB each of the first 1,000, ` +
      `${(next / 1000).toFixed(1)} kB each of the next 2,000`,
  );
}

/**
 * One long line through a client, timed: `client.ts` (which must find where the reply ends, in
 * 32,768 stamped parts) beside `nc` (which only copies bytes until the server closes).
 */
async function longLine(mib: number): Promise<string> {
  const server = await start("tsd");
  const input = new Uint8Array(mib * 1024 * 1024 + 1).fill(0x61);
  input[input.length - 1] = 0x0a;
  const timed = async (command: string[]) => {
    const began = performance.now();
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      cwd: root,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const output = child.output(); // read as it comes, or both sides wait on full pipes
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
    const { stdout } = await output;
    return { seconds: (performance.now() - began) / 1000, bytes: stdout.length };
  };
  try {
    const port = String(server.port);
    const ours = await timed([
      deno,
      ...denoArgs("client.ts", ["--host", "127.0.0.1", "-p", port]),
    ]);
    const nc = await has("sh", ["-c", "command -v nc"])
      ? await timed(["nc", "-N", "127.0.0.1", port])
      : undefined;
    return `A ${mib} MiB line through client.ts: ${ours.seconds.toFixed(2)} s, ` +
      `${(ours.bytes / 1048576).toFixed(1)} MiB printed` +
      (nc
        ? `; through nc: ${nc.seconds.toFixed(2)} s (${(ours.seconds / nc.seconds).toFixed(1)}×)`
        : "");
  } finally {
    await stop(server);
  }
}

const longLineFigure = await longLine(32);
console.log(longLineFigure);

machine.steal = { share: stealShare(ticksAtStart, await cpuTicks("all")), ...stolen };
const rendered = render(machine, scenarios, rows, memory, generators);
const { targets } = rendered;
const markdown = `${rendered.markdown}\n\n${longLineFigure}.`;
console.log(`\n${markdown}`);
console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s)`);
if (flags.out) {
  const out = flags.out.replace(/\/$/, "");
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(`${out}/results.md`, markdown + "\n");
  await Deno.writeTextFile(
    `${out}/results.json`,
    JSON.stringify({ machine, rows, memory, generators, targets }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${out}/chart.svg`, chart(machine, scenarios, rows));
  console.log(`wrote ${out}/results.md, results.json and chart.svg`);
}
