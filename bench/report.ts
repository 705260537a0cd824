/**
 * The benchmark's figures as markdown: a table per load with ratios to the Node server, the
 * bare Deno loop and the C server of the same run, the load generators' own cost, the memory
 * table, and each of the performance targets, met or not.
 *
 * @module
 */

/** The servers the others are compared to: Node's, the bare Deno loop, the C epoll server. */
export type Anchor = "node" | "deno" | "c";

/**
 * A load generator's share of its core above which it, not the server, set the pace: the row's
 * requests/s are then not used for a verdict.
 */
export const LOAD_LIMIT = 0.85;

/** Where and how a benchmark ran. */
export interface Machine {
  date: string;
  deno: string;
  node: string;
  python: string;
  go: string;
  cc: string;
  cpu: string;
  cpus: number;
  kernel: string;
  pinned: boolean;
  runs: number;
  seconds: number;
  quick: boolean;
  /**
   * The share of the CPUs' time a hypervisor gave to others over the whole bench (steal), and
   * how many runs that took more than 5% were run again, or kept after their retries.
   */
  steal?: { share: number; again: number; kept: number };
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
  anchor: Anchor | null;
  rate: number;
  p50: number;
  p99: number;
  cpu: number;
  answered: number;
  conns: number;
  errors: number;
  /** The load generator's CPU, as a share of its core: above `LOAD_LIMIT`, it was the limit. */
  loadCpu: number;
  /** Which load generator: `load.c`, or `tsLoad` (for TLS). */
  load: string;
}

/** A load generator's own figures against the C server. */
export interface LoadGeneratorRow {
  generator: string;
  rate: number;
  /** Its own CPU time per request, in microseconds. */
  cpu: number;
  /** Its CPU as a share of its core. */
  share: number;
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

/** The middle of `values` (the mean of the two middle ones), past any that are not finite. */
export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
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

/** The row of the anchor (Node's server by default) under the same load. */
export function reference(rows: Row[], scenario: string, anchor: Anchor = "node"): Row | undefined {
  return rows.find((row) => row.scenario === scenario && row.anchor === anchor);
}

/** Whether the load generator was the limit in this row. */
export const limited = (row: Row): boolean => row.loadCpu > LOAD_LIMIT;

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
  generators: LoadGeneratorRow[] = [],
): { markdown: string; targets: Target[] } {
  const lines: string[] = [
    (machine.quick
      ? `**A smoke run** (\`deno task bench --quick\`: fewer loads and servers), ${machine.date}: `
      : `Measured ${machine.date} with \`deno task bench\`: `) +
    `Deno ${machine.deno}, Node ${machine.node}, ${machine.python}, ${machine.go}, ` +
    `${machine.cc}; ${machine.cpu}, ${machine.cpus} CPUs, ${machine.kernel}. ` +
    (machine.pinned
      ? "Servers on CPU 0, the load generator on CPU 1. "
      : "Not pinned to cores (no `taskset`). ") +
    `Each figure is the median of ${machine.runs} interleaved run(s) of ${machine.seconds} s, ` +
    "after a warm-up; × is the ratio to the Node server, the bare Deno loop or the C server " +
    "under the same load. The load comes from `bench/load.c` (`tsLoad.ts` over TLS); where it " +
    `used more than ${LOAD_LIMIT * 100}% of its core it set the pace, not the server: the row ` +
    "says *limited*, and its requests/s are no verdict (CPU µs/request still holds)." +
    (machine.steal
      ? ` The hypervisor took ${(machine.steal.share * 100).toFixed(1)}% of the CPUs' time ` +
        `over the run (steal); ${machine.steal.again} run(s) from which it took more than 5% ` +
        "were run again" +
        (machine.steal.kept > 0 ? `, ${machine.steal.kept} kept after two retries.` : ".")
      : ""),
    "",
    "| load | server | requests/s | × Node | p50 ms | p99 ms | × Node | CPU µs/request | " +
    "× Node | × bare Deno | × C | answered | load gen. CPU |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const scenario of scenarios) {
    const anchors = {
      node: reference(rows, scenario.id, "node"),
      deno: reference(rows, scenario.id, "deno"),
      c: reference(rows, scenario.id, "c"),
    };
    const cpuTo = (row: Row, anchor: Anchor) => times(row.cpu / (anchors[anchor]?.cpu ?? NaN));
    for (const row of rows.filter((row) => row.scenario === scenario.id)) {
      const name = row.ours ? `**${row.label}**` : row.label;
      const node = anchors.node;
      const load = `${row.load} ${Math.round(row.loadCpu * 100)}%` +
        (limited(row) ? ", *limited*" : "");
      const rate = limited(row) ? `*${times(row.rate / (node?.rate ?? NaN))}*` : times(
        row.rate / (node?.rate ?? NaN),
      );
      lines.push(
        `| ${scenario.title} | ${name} | ${whole(row.rate)} | ${rate} | ` +
          `${fixed(row.p50, 3)} | ${fixed(row.p99, 3)} | ${
            times(row.p99 / (node?.p99 ?? NaN))
          } | ` +
          `${fixed(row.cpu, 1)} | ${cpuTo(row, "node")} | ${cpuTo(row, "deno")} | ` +
          `${cpuTo(row, "c")} | ${row.answered} of ${row.conns} | ${load} |`,
      );
    }
  }
  if (generators.length > 0) {
    lines.push(
      "",
      "| load generator, against the C server (TCP, 16 connections) | requests/s | " +
        "its CPU µs/request | its share of a core |",
      "|---|--:|--:|--:|",
    );
    for (const row of generators) {
      lines.push(
        `| ${row.generator} | ${whole(row.rate)} | ${fixed(row.cpu, 1)} | ` +
          `${Math.round(row.share * 100)}% |`,
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

/** The performance issues' targets, against this run's figures. */
function check(rows: Row[], memory: MemoryRow[]): Target[] {
  const targets: Target[] = [];
  const ours = (scenario: string) => rows.find((row) => row.scenario === scenario && row.ours);
  const ratio = (
    scenario: string,
    key: "rate" | "p50" | "p99" | "cpu",
    anchor: Anchor = "node",
  ) => {
    const mine = ours(scenario);
    const other = reference(rows, scenario, anchor);
    return mine && other ? mine[key] / other[key] : NaN;
  };
  // A target whose load this run did not measure (`--quick` runs four) says so: no verdict.
  const add = (target: string, value: number, met: (value: number) => boolean) =>
    targets.push(
      Number.isFinite(value)
        ? { target, figure: times(value), met: met(value) }
        : { target, figure: "not measured in this run", met: null },
    );
  /** A requests/s target: no verdict where the load generator was the limit. */
  const addRate = (target: string, scenario: string, min: number) => {
    const value = ratio(scenario, "rate");
    // Ours and Node's: the ratio's two sides (the C server's row is limited by construction).
    const rowsHere = rows.filter((row) =>
      row.scenario === scenario && (row.ours || row.anchor === "node")
    );
    if (rowsHere.some(limited)) {
      targets.push({ target, figure: `${times(value)}, limited by the load`, met: null });
    } else add(target, value, (v) => v >= min);
  };

  for (const id of ["tcp16", "tcp128"]) {
    const title = id === "tcp16" ? "TCP, 16 connections" : "TCP, 128 connections";
    add(
      `${title}: CPU per request ≤ 1.02× the bare Deno loop`,
      ratio(id, "cpu", "deno"),
      (v) => v <= 1.02,
    );
    add(`${title}: CPU per request ≤ 0.78× Node`, ratio(id, "cpu"), (v) => v <= 0.78);
  }
  add(
    "A connection per line: CPU per request ≤ 0.72× Node",
    ratio("ss16", "cpu"),
    (v) => v <= 0.72,
  );
  add("UDP, 16 clients: CPU per request ≤ 0.95× Node", ratio("udp16", "cpu"), (v) => v <= 0.95);
  addRate("TCP, 128 connections: requests/s ≥ 1.0× Node", "tcp128", 1);
  add("TCP, 128 connections: p99 ≤ 1.0× Node", ratio("tcp128", "p99"), (v) => v <= 1);
  addRate("UDP, 16 clients: requests/s ≥ 1.0× Node", "udp16", 1);
  addRate("A connection per line: connections/s ≥ 1.0× Node", "ss16", 1);
  add("TCP, 1 connection: p50 within 5% of Node", ratio("tcp1", "p50"), (v) => v <= 1.05);
  // The C server's rows are the kernel's floor on both sides: there, the load generator (as
  // cheap as the server) is the limit by construction.
  const tcpRows = rows.filter((row) =>
    ["tcp1", "tcp16", "tcp128"].includes(row.scenario) && row.anchor !== "c"
  );
  const busiest = Math.max(...tcpRows.map((row) => row.loadCpu));
  targets.push({
    target: `The load generator below ${LOAD_LIMIT * 100}% of its core on every TCP row ` +
      "(but the C server's)",
    figure: tcpRows.length > 0 ? `${Math.round(busiest * 100)}% at most` : "–",
    met: tcpRows.length > 0 && busiest <= LOAD_LIMIT,
  });
  const tcp = memory.find((row) => row.server === "tsd");
  if (tcp) {
    const { first, next } = perConnection(tcp);
    targets.push({
      target: "tsd: ≤ 8 kB per idle connection, 1,000 → 3,000",
      figure: `${kB(next)} each beyond the first 1,000 (${kB(first)} each of the first 1,000)`,
      met: next <= 8_000,
    });
    targets.push({
      target: "tsd: ≤ 50 MiB RSS with 1,000 idle connections",
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
