/**
 * The benchmark's figures as markdown: a table per load with ratios to the Node server of the
 * same run, the memory table, and each of the performance targets, met or not.
 *
 * @module
 */

/** Where and how a benchmark ran. */
export interface Machine {
  date: string;
  deno: string;
  node: string;
  python: string;
  cpu: string;
  cpus: number;
  kernel: string;
  pinned: boolean;
  runs: number;
  seconds: number;
  quick: boolean;
}

/** A load, as the report needs it. */
export interface ScenarioInfo {
  id: string;
  title: string;
  conns: number;
}

/** A server's figures under one load: medians of its runs. */
export interface Row {
  scenario: string;
  server: string;
  label: string;
  ours: boolean;
  reference: boolean;
  rate: number;
  p50: number;
  p99: number;
  cpu: number;
  answered: number;
  conns: number;
  errors: number;
  /** The load generator's CPU, as a share of its core: near 1, it was the limit. */
  loadCpu: number;
}

/** A server's memory (RSS, KiB): idle, then holding 1,000 idle connections, then 3,000. */
export interface MemoryRow {
  server: string;
  label: string;
  ours: boolean;
  idleKiB: number;
  loadedKiB: number;
  loaded3KiB: number;
}

/**
 * Bytes per idle connection: over the first 1,000, and over the next 2,000. The first also
 * pay one-time costs (compiling the serving code, the young generation growing to its working
 * size); the next are what each further connection costs.
 */
export function perConnection(row: MemoryRow): { first: number; next: number } {
  return {
    first: ((row.loadedKiB - row.idleKiB) * 1024) / 1000,
    next: ((row.loaded3KiB - row.loadedKiB) * 1024) / 2000,
  };
}

/** A target of the performance issue, and whether this run met it. */
export interface Target {
  target: string;
  figure: string;
  /** `null` for a figure that is only shown. */
  met: boolean | null;
}

/** The Node server's row under the same load. */
export function reference(rows: Row[], scenario: string): Row | undefined {
  return rows.find((row) => row.scenario === scenario && row.reference);
}

/** `value` as a ratio to the reference's, e.g. `0.82×`. */
const times = (ratio: number) => Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "–";
const whole = (n: number) => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
const fixed = (n: number, digits: number) => Number.isFinite(n) ? n.toFixed(digits) : "–";
const MiB = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;

/** Renders the results; returns the markdown and the targets. */
export function render(
  machine: Machine,
  scenarios: ScenarioInfo[],
  rows: Row[],
  memory: MemoryRow[],
): { markdown: string; targets: Target[] } {
  const lines: string[] = [
    `Measured ${machine.date} with \`deno task bench${machine.quick ? " --quick" : ""}\`: ` +
    `Deno ${machine.deno}, Node ${machine.node}, ${machine.python}; ${machine.cpu}, ` +
    `${machine.cpus} CPUs, ${machine.kernel}. ` +
    (machine.pinned
      ? "Servers on CPU 0, the load generator (`tsLoad.ts`) on CPU 1. "
      : "Not pinned to cores (no `taskset`). ") +
    `Each figure is the median of ${machine.runs} interleaved run(s) of ${machine.seconds} s, ` +
    "after a warm-up; × is the ratio to the Node server under the same load. Where the load " +
    "generator's CPU is near 100%, it set the pace, not the server: CPU µs/request then says " +
    "more than requests/s.",
    "",
    "| load | server | requests/s | × | p50 ms | p99 ms | × | CPU µs/request | × | answered | " +
    "load gen. CPU |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const scenario of scenarios) {
    const node = reference(rows, scenario.id);
    for (const row of rows.filter((row) => row.scenario === scenario.id)) {
      const name = row.ours ? `**${row.label}**` : row.label;
      lines.push(
        `| ${scenario.title} | ${name} | ${whole(row.rate)} | ${times(row.rate / node!.rate)} | ` +
          `${fixed(row.p50, 3)} | ${fixed(row.p99, 3)} | ${times(row.p99 / node!.p99)} | ` +
          `${fixed(row.cpu, 1)} | ${times(row.cpu / node!.cpu)} | ` +
          `${row.answered} of ${row.conns} | ${Math.round(row.loadCpu * 100)}% |`,
      );
    }
  }
  lines.push(
    "",
    "| idle connections | RSS idle | with 1,000 | with 3,000 | per connection, first 1,000 | " +
      "per connection, next 2,000 |",
    "|---|--:|--:|--:|--:|--:|",
  );
  for (const row of memory) {
    const name = row.ours ? `**${row.label}**` : row.label;
    const { first, next } = perConnection(row);
    lines.push(
      `| ${name} | ${MiB(row.idleKiB)} | ${MiB(row.loadedKiB)} | ${MiB(row.loaded3KiB)} | ` +
        `${kB(first)} | ${kB(next)} |`,
    );
  }

  const targets = check(rows, memory);
  lines.push("", "| target | this run | |", "|---|---|---|");
  for (const target of targets) {
    const mark = target.met === null ? "shown" : target.met ? "met" : "**missed**";
    lines.push(`| ${target.target} | ${target.figure} | ${mark} |`);
  }
  return { markdown: lines.join("\n"), targets };
}

/** The targets, against this run's figures. */
function check(rows: Row[], memory: MemoryRow[]): Target[] {
  const targets: Target[] = [];
  const ours = (scenario: string) => rows.find((row) => row.scenario === scenario && row.ours);
  const ratio = (scenario: string, key: "rate" | "p50" | "p99" | "cpu") => {
    const mine = ours(scenario);
    const node = reference(rows, scenario);
    return mine && node ? mine[key] / node[key] : NaN;
  };
  const add = (target: string, value: number, met: (value: number) => boolean) =>
    targets.push({ target, figure: times(value), met: Number.isFinite(value) && met(value) });

  add("TCP, 16 connections: CPU per request ≤ 0.85× Node", ratio("tcp16", "cpu"), (v) => v <= 0.85);
  add("TCP, 128 connections: requests/s ≥ 1.0× Node", ratio("tcp128", "rate"), (v) => v >= 1);
  add("TCP, 128 connections: p99 ≤ 1.0× Node", ratio("tcp128", "p99"), (v) => v <= 1);
  add("UDP, 16 clients: requests/s ≥ 1.0× Node", ratio("udp16", "rate"), (v) => v >= 1);
  add("UDP, 16 clients: CPU per request ≤ 1.0× Node", ratio("udp16", "cpu"), (v) => v <= 1);
  add("A connection per line: connections/s ≥ 1.0× Node", ratio("ss16", "rate"), (v) => v >= 1);
  add("TCP, 1 connection: p50 within 5% of Node", ratio("tcp1", "p50"), (v) => v <= 1.05);
  const tcp = memory.find((row) => row.server === "tsTserv");
  if (tcp) {
    const { first, next } = perConnection(tcp);
    targets.push({
      target: "tsTserv: ≤ 11 kB per idle connection",
      figure: `${kB(next)} each beyond the first 1,000 (${kB(first)} each of the first 1,000)`,
      met: next <= 11_000,
    });
    targets.push({
      target: "tsTserv: ≤ 50 MiB RSS with 1,000 idle connections",
      figure: MiB(tcp.loadedKiB),
      met: tcp.loadedKiB <= 50 * 1024,
    });
  }
  const book = rows.find((row) => row.scenario === "tcp16" && row.server === "book");
  const mine = ours("tcp16");
  if (book && mine) {
    targets.push({
      target: "The book's one-at-a-time loop at 16 clients",
      figure: `${book.answered} of 16 clients answered, ${whole(book.rate)} requests/s ` +
        `(ours: ${mine.answered} of 16, ${whole(mine.rate)}/s)`,
      met: null,
    });
  }
  return targets;
}
