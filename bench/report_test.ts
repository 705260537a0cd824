import assert from "node:assert/strict";
import { chart } from "./chart.ts";
import { type Machine, type MemoryRow, render, type Row } from "./report.ts";

const MACHINE: Machine = {
  date: "2026-11-24",
  deno: "2.9.6",
  node: "v20.20.2",
  python: "Python 3.11.7",
  go: "go version go1.19.8 linux/amd64",
  cc: "cc (Debian 12.2.0-14) 12.2.0",
  cpu: "AMD EPYC",
  cpus: 2,
  kernel: "linux 6.1",
  pinned: true,
  runs: 3,
  seconds: 5,
  quick: false,
};
const SCENARIOS = [
  { id: "tcp16", title: "TCP, 16 connections", conns: 16 },
  { id: "udp16", title: "UDP, 16 clients", conns: 16 },
];

function row(scenario: string, server: string, rate: number, cpu: number, extra = {}): Row {
  return {
    scenario,
    server,
    label: server,
    ours: server.startsWith("ts"),
    anchor: server.startsWith("node") ? "node" : server.startsWith("bare") ? "deno" : null,
    rate,
    p50: 0.1,
    p99: 0.4,
    cpu,
    answered: 16,
    conns: 16,
    errors: 0,
    loadCpu: 0.6,
    load: "load.c",
    ...extra,
  };
}

const ROWS = [
  row("tcp16", "tsTserv", 110_000, 8),
  row("tcp16", "nodeNet", 100_000, 10),
  row("tcp16", "bareTcp", 115_000, 7.9),
  row("tcp16", "cTcp", 150_000, 4, { anchor: "c", loadCpu: 0.95 }), // the kernel's floor

  row("tcp16", "book", 12_000, 30, { answered: 1 }),
  row("udp16", "tsUserv", 90_000, 11, { loadCpu: 0.9 }), // the load generator was the limit
  row("udp16", "nodeDgram", 100_000, 10),
];
const MEMORY: MemoryRow[] = [{
  server: "tsd",
  label: "tsd --proto tcp (ours)",
  ours: true,
  idleKiB: 40 * 1024,
  loadedKiB: 55 * 1024,
  loaded3KiB: 73 * 1024,
}];

Deno.test("render() gives ratios to Node, bare Deno and C, and says which targets were met and missed", () => {
  const { markdown, targets } = render(MACHINE, SCENARIOS, ROWS, MEMORY, [
    { generator: "load.c", rate: 150_000, cpu: 4.2, share: 0.63 },
  ]);
  assert.match(markdown, /^Measured 2026-11-24 with `deno task bench`: Deno 2\.9\.6/);
  assert.match(markdown, /\| TCP, 16 connections \| \*\*tsTserv\*\* \| 110,000 \| 1\.10× \|/);
  // CPU per request, × Node, × bare Deno, × C; then the load generator and its share.
  assert.match(markdown, /\| 8\.0 \| 0\.80× \| 1\.01× \| 2\.00× \| 16 of 16 \| load\.c 60% \|/);
  // Above 85%, the row says the load generator was the limit, and its rate is set apart.
  assert.match(markdown, /\| UDP, 16 clients \| \*\*tsUserv\*\* \| 90,000 \| \*0\.90×\* \|/);
  assert.match(markdown, /\| load\.c 90%, \*limited\* \|/);
  assert.match(markdown, /\| load\.c \| 150,000 \| 4\.2 \| 63% \|/);
  const met = Object.fromEntries(targets.map((target) => [target.target, target]));
  assert.equal(met["TCP, 16 connections: CPU per request ≤ 1.02× the bare Deno loop"].met, true);
  assert.equal(met["TCP, 16 connections: CPU per request ≤ 0.78× Node"].met, false);
  assert.equal(met["UDP, 16 clients: CPU per request ≤ 0.95× Node"].figure, "1.10×");
  // A limited load gives no verdict on requests/s, neither pass nor miss.
  const udpRate = met["UDP, 16 clients: requests/s ≥ 1.0× Node"];
  assert.equal(udpRate.met, null);
  assert.equal(udpRate.figure, "0.90×, limited by the load");
  // A load this run did not measure says so: no verdict, never a pass, nor a miss.
  const unmeasured = met["TCP, 128 connections: CPU per request ≤ 1.02× the bare Deno loop"];
  assert.equal(unmeasured.met, null);
  assert.equal(unmeasured.figure, "not measured in this run");
  assert.equal(met["TCP, 128 connections: requests/s ≥ 1.0× Node"].met, null);
  const share =
    met["The load generator below 85% of its core on every TCP row (but the C server's)"];
  assert.equal(share.met, true);
  assert.equal(share.figure, "60% at most");
  assert.equal(met["tsd: ≤ 50 MiB RSS with 1,000 idle connections"].met, false);
  assert.equal(met["tsd: ≤ 8 kB per idle connection, 1,000 → 3,000"].met, false);
  assert.match(markdown, /\| The book's one-at-a-time loop at 16 clients \| 1 of 16 clients/);
  assert.match(
    markdown,
    /\| tsd: ≤ 50 MiB RSS with 1,000 idle connections \| 55\.0 MiB \| \*\*missed\*\* \|/,
  );
});

Deno.test("render() judges requests/s by ours and Node's rows: the C server's limit is no excuse", () => {
  const rows = [
    row("ss16", "tsTservSS", 12_000, 80),
    row("ss16", "nodeSS", 7_000, 130),
    row("ss16", "cSS", 14_000, 45, { anchor: "c", loadCpu: 0.99 }),
  ];
  const { targets } = render(MACHINE, [{ id: "ss16", title: "per line", conns: 16 }], rows, []);
  const rate = targets.find((t) => t.target.startsWith("A connection per line: connections/s"))!;
  assert.equal(rate.met, true);
  assert.equal(rate.figure, "1.71×");
});

Deno.test("render() says a --quick run is a smoke run", () => {
  const { markdown } = render({ ...MACHINE, quick: true }, SCENARIOS, ROWS, MEMORY);
  assert.match(markdown, /^\*\*A smoke run\*\* \(`deno task bench --quick`/);
});

Deno.test("chart() draws a bar per server and load in each of its four panels", () => {
  const svg = chart(MACHINE, SCENARIOS, ROWS);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal(svg.match(/<rect x=/g)?.length, 4 * ROWS.length);
  assert.match(svg, />1\.10×</);
  assert.match(svg, />0\.80×</);
  assert.match(svg, />0\.90× limited</); // UDP's requests/s, limited by the load
  assert.match(svg, /CPU\/request, × bare Deno/);
});
