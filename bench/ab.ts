/**
 * Before and after, side by side: our servers as they are in this folder, beside the same
 * servers at an earlier commit (`--baseline`, checked out into a temporary git worktree), under
 * the same loads from `bench/load.c`. Both servers run at once on CPU 0, the load generator on
 * CPU 1, and their runs alternate (before, after, before, …), so that a slow spell of this
 * shared machine falls on both. What counts is each pair's ratio, and their median: how a
 * change moved the server's CPU time per request. For "this costs nothing when off".
 *
 * ```sh
 * deno task bench:ab --baseline HEAD~1            # this folder against the last commit
 * deno task bench:ab --baseline main --rounds 9
 * ```
 *
 * @module
 */

import { flag } from "../server/flags.ts";
import { cpuSeconds, cpuTicks, type Listening, startListening } from "../tools/proc.ts";
import { denoArgs, optionsOrExit } from "../tools/scripts.ts";
import { buildC } from "./build.ts";
import { median } from "./report.ts";

const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

const COMMAND = {
  script: "bench/ab.ts",
  about: "our servers before and after a change, side by side",
  run: "-N=127.0.0.1 --unstable-net --allow-run --allow-read=.,/tmp --allow-write=/tmp",
  flags: {
    baseline: {
      ...flag.file("baseline", "the commit to compare with (a branch, a tag, HEAD~1)"),
      value: "REF",
      default: "HEAD",
    },
    after: {
      ...flag.file(
        "after",
        "the commit to measure instead of this folder (the same as --baseline: the noise)",
      ),
      value: "REF",
    },
    rounds: flag.whole("rounds", 7, "pairs of runs per load", { max: 50, value: "N" }),
    seconds: flag.seconds("seconds", 3, "seconds per run", { max: 60 }),
  },
};

/** A load, and the protocol of ours (`tsd --proto`) it is for. */
const LOADS = [
  { title: "TCP, 16 connections", proto: "tcp", conns: 16 },
  { title: "TCP, 128 connections", proto: "tcp", conns: 128 },
  { title: "UDP, 16 clients", proto: "udp", conns: 16 },
  { title: "a connection per line, 16 clients", proto: "ss", conns: 16 },
];
const STEAL_LIMIT = 0.05; // a run the hypervisor took more than this of the CPUs from is run again

const flags = await optionsOrExit(COMMAND);
const git = async (...args: string[]) => {
  const { success, stdout, stderr } = await new Deno.Command("git", { args, cwd: root }).output();
  if (!success) throw new Error(`git ${args.join(" ")}: ${decoder.decode(stderr).trim()}`);
  return decoder.decode(stdout).trim();
};
if (navigator.hardwareConcurrency < 2) throw new Error("two CPUs are needed: one for each side");

const temp = await Deno.makeTempDir({ prefix: "ts-deno-ab-" });
const before = `${temp}/before`;
const commit = await git("rev-parse", "--short", flags.baseline ?? "HEAD");
await git("worktree", "add", "--detach", before, commit);
// With --after, that commit too, in a worktree of its own; else this folder, as it is.
const after = flags.after === undefined ? root.replace(/\/$/, "") : `${temp}/after`;
const afterCommit = flags.after && await git("rev-parse", "--short", flags.after);
if (afterCommit) await git("worktree", "add", "--detach", after, afterCommit);
// Ctrl-C still stops the servers and removes the worktrees.
const live = new Set<Listening>();
const cleanUp = async () => {
  for (const server of live) server.child.kill("SIGKILL");
  await git("worktree", "remove", "--force", before).catch(() => {});
  if (afterCommit) await git("worktree", "remove", "--force", after).catch(() => {});
  await Deno.remove(temp, { recursive: true }).catch(() => {});
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => cleanUp().finally(() => Deno.exit(130)));
}
try {
  const load = await buildC(`${root}bench/load.c`, `${temp}/load`);
  if (!("path" in load)) throw new Error(load.missing);
  const changed = await git("status", "--short");
  const head = await git("rev-parse", "--short", "HEAD");
  console.log(
    `before: ${commit}; after: ${
      afterCommit || `this folder (${head}${changed ? ", with uncommitted changes" : ""})`
    }; ${flags.rounds} pairs of ` +
      `${flags.seconds} s runs per load; servers on CPU 0, load.c on CPU 1\n`,
  );
  console.log(
    "| load | before µs/request | after µs/request | after ÷ before (median; range) | requests/s after ÷ before | load.c's core, most busy |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const scenario of LOADS) {
    const start = (folder: string) => {
      const args = ["--proto", scenario.proto, "--host", "127.0.0.1", "--port", "0", "-q"];
      const [run, ...rest] = denoArgs("tsd.ts", args);
      const script = rest.map((arg) => arg.replace(`${root}server/`, `${folder}/server/`));
      return startListening(["taskset", "-c", "0", Deno.execPath(), run, ...script], folder);
    };
    const servers = { before: await start(before), after: await start(after) };
    for (const server of Object.values(servers)) live.add(server);
    const samples = { before: [] as Sample[], after: [] as Sample[] };
    try {
      // A first run each, not counted: V8 compiles the hot path while it runs.
      for (const side of ["before", "after"] as const) {
        await fairly(servers[side], scenario, load.path);
      }
      for (let round = 0; round < flags.rounds; round++) {
        // Strictly alternate, so that each run follows the other server's: a server that runs
        // twice in a row finds the caches warm, and its second run would look faster.
        for (const side of ["before", "after"] as const) {
          samples[side].push(await fairly(servers[side], scenario, load.path));
        }
      }
    } finally {
      for (const server of Object.values(servers)) {
        server.child.kill("SIGTERM");
        await server.child.status;
        live.delete(server);
      }
    }
    const cpu = samples.after.map((after, i) => after.cpu / samples.before[i].cpu);
    const rate = samples.after.map((after, i) => after.rate / samples.before[i].rate);
    const busiest = Math.max(...[...samples.before, ...samples.after].map((s) => s.loadCore));
    const us = (side: Sample[]) => median(side.map((s) => s.cpu)).toFixed(1);
    console.log(
      `| ${scenario.title} | ${us(samples.before)} | ${us(samples.after)} | ` +
        `${median(cpu).toFixed(2)}× (${Math.min(...cpu).toFixed(2)}–${
          Math.max(...cpu).toFixed(2)
        }) | ` +
        `${median(rate).toFixed(2)}× | ${Math.round(busiest * 100)}% |`,
    );
  }
} finally {
  await cleanUp();
}
Deno.exit(0); // the signal listeners would keep it alive

function where(server: Listening): string[] {
  return ["--host", "127.0.0.1", "-p", String(server.port)];
}

interface Sample {
  cpu: number; // the server's CPU time per request, µs
  rate: number; // requests per second
  loadCore: number; // how busy load.c's core was: near 1, it was the limit
}

/** A run of load.c against `server`; run again (twice at most) while steal is high. */
async function fairly(
  server: Listening,
  scenario: (typeof LOADS)[number],
  load: string,
): Promise<Sample> {
  for (let tries = 0;; tries++) {
    const all = await cpuTicks("all");
    const core = await cpuTicks(1);
    const cpu = await cpuSeconds(server.child.pid);
    const args = ["-c", "1", load, "--proto", scenario.proto, "-c", String(scenario.conns)];
    const output = await new Deno.Command("taskset", {
      args: [...args, "-d", String(flags.seconds), "--warmup", "0", ...where(server)],
      stderr: "inherit",
    }).output();
    const spent = await cpuSeconds(server.child.pid) - cpu;
    const [coreAfter, allAfter] = [await cpuTicks(1), await cpuTicks("all")];
    const result = JSON.parse(decoder.decode(output.stdout));
    if (result.errors > 0) throw new Error(`load.c: ${JSON.stringify(result.errorKinds)}`);
    const steal = (allAfter.steal - all.steal) /
      (allAfter.total + allAfter.steal - all.total - all.steal);
    if (steal <= STEAL_LIMIT || tries === 2) {
      return {
        cpu: spent * 1e6 / result.requests,
        rate: result.rate,
        loadCore: (coreAfter.busy - core.busy) / (coreAfter.total - core.total),
      };
    }
  }
}
