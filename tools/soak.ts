#!/usr/bin/env -S deno run -N --unstable-net --allow-run --allow-read=. --allow-sys=osRelease
/**
 * Soak test: a steady load against the production server (`tsd`), in each of its protocols, for a few minutes, to make memory growth
 * or a slowing tail visible. Not a test that passes or fails, and not a benchmark: it prints,
 * per minute and per server, the requests served, the errors, the latency percentiles and the
 * server's memory (RSS), and at the end each server's RSS at start and end.
 *
 * ```sh
 * deno task soak                                  # 2 minutes per server, 1,000 requests/s
 * deno task soak --minutes 1 --rate 500 --servers tcp
 * ```
 *
 * Every request is checked: the reply must be a stamp and exactly the payload sent. Latency is
 * measured from each request's send to its whole reply. Loopback only.
 *
 * @module
 */

import { type Command, flag } from "../server/flags.ts";
import { writeAll } from "../lib/prompt.ts";
import { isWholeReply } from "../lib/reply.ts";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import { memoryKiB, startListening } from "./proc.ts";
import { denoArgs, optionsOrExit } from "./scripts.ts";

const SERVERS = ["tcp", "ss", "udp"]; // tsd's protocols
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const COMMAND = {
  script: "tools/soak.ts",
  about: "a steady load against each server, with figures per minute",
  run: "-N=127.0.0.1 --unstable-net --allow-run --allow-read=. --allow-sys=osRelease",
  flags: {
    minutes: flag.seconds("minutes", 2, "minutes per server", { max: 60, value: "MINUTES" }),
    rate: flag.whole("rate", 1000, "requests per second", { max: 100_000, value: "N" }),
    conns: flag.whole("conns", 16, "clients sending at once", { max: 1000, value: "N" }),
    servers: {
      name: "servers",
      value: "A,B",
      help: "which of tsd's protocols",
      default: SERVERS.join(","),
      parse(raw: string) {
        const unknown = raw.split(",").find((server) => !SERVERS.includes(server));
        if (unknown) throw new RangeError(`has ${unknown}; choose from ${SERVERS.join(", ")}`);
        return raw;
      },
    },
  },
} satisfies Command;

const options = await optionsOrExit(COMMAND);
const { minutes, rate, conns } = options;
const servers = options.servers.split(",");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The server's resident memory, in MiB. */
async function rssMiB(pid: number): Promise<number> {
  return (await memoryKiB(pid, "VmRSS")) / 1024;
}

/** Starts `tsd --proto proto` on a free loopback port; returns it and its port. */
function start(proto: string) {
  const args = ["--proto", proto, "--host", "127.0.0.1", "--port", "0", "-q"];
  return startListening([Deno.execPath(), ...denoArgs("tsd.ts", args)]);
}

const isReply = isWholeReply;

/** Reads exactly `length` bytes, or fewer if the connection ends. */
async function readExactly(conn: Deno.Conn, buffer: Uint8Array, length: number) {
  let got = 0;
  while (got < length) {
    const n = await conn.read(buffer.subarray(got, length));
    if (n === null) break;
    got += n;
  }
  return buffer.subarray(0, got);
}

/** One client's way of making a request: resolves with whether the reply was right. */
type Client = { ask(payload: Uint8Array): Promise<boolean>; close(): void };

async function tcpClient(port: number): Promise<Client> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buffer = new Uint8Array(4096);
  return {
    async ask(payload) {
      await writeAll(conn, payload);
      return isReply(await readExactly(conn, buffer, STAMP_LENGTH + payload.length), payload);
    },
    close: () => conn.close(),
  };
}

function lineClient(port: number): Client {
  const buffer = new Uint8Array(4096);
  return {
    async ask(payload) {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeAll(conn, payload);
      const reply = await readExactly(conn, buffer, STAMP_LENGTH + payload.length);
      return isReply(reply, payload) && (await conn.read(buffer)) === null;
    },
    close: () => {},
  };
}

function udpClient(port: number): Client {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const buffer = new Uint8Array(4096);
  const server = { transport: "udp" as const, hostname: "127.0.0.1", port };
  let pending: Promise<[Uint8Array, Deno.Addr]> | undefined; // a receive outlives a lost reply
  return {
    async ask(payload) {
      await socket.send(payload, server);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const lost = new Promise<null>((resolve) => timer = setTimeout(resolve, 1000, null));
      try {
        while (true) {
          const received = await Promise.race([pending ??= socket.receive(buffer), lost]);
          if (received === null) throw new Error("no reply within 1 s");
          pending = undefined;
          const [reply] = received;
          // A late reply to an earlier request is skipped; anything else is an error.
          if (!/ soak \d+ \d+$/.test(decoder.decode(reply)) || isReply(reply, payload)) {
            return isReply(reply, payload);
          }
        }
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => socket.close(),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const ms = (value: number) => value.toFixed(2).padStart(7);

async function soak(proto: string): Promise<string> {
  const server = await start(proto);
  const script = `tsd --proto ${proto}`;
  const makeClient = proto === "tcp"
    ? () => tcpClient(server.port)
    : proto === "udp"
    ? () => Promise.resolve(udpClient(server.port))
    : () => Promise.resolve(lineClient(server.port));
  const clients = await Promise.all(Array.from({ length: conns }, makeClient));

  // Warm up for 5 s, so that "start" is the server's working size rather than its idle one.
  let running = true;
  let latencies: number[] = [];
  let errors = 0;
  let served = 0;
  let measuring = false;
  const interval = (1000 * conns) / rate; // each client sends every `interval` ms
  const workers = clients.map(async (client, id) => {
    const startedAt = performance.now() + (id * interval) / conns;
    for (let k = 0; running; k++) {
      const due = startedAt + k * interval;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const ending = proto === "ss" ? "\n" : "";
      const payload = encoder.encode(`soak ${id} ${k}${ending}`);
      const sent = performance.now();
      try {
        const ok = await client.ask(payload);
        if (!measuring) continue;
        if (ok) {
          served++;
          latencies.push(performance.now() - sent);
        } else errors++;
      } catch {
        if (measuring) errors++;
        if (proto === "tcp") return; // its connection is gone
      }
    }
  });
  await sleep(5000);
  measuring = true;
  const rssStart = await rssMiB(server.child.pid);
  console.log(`\n${script}: ${rate} requests/s from ${conns} clients, ${minutes} min`);
  console.log("minute   served  errors  p50 ms  p99 ms  max ms  RSS MiB");
  let totalServed = 0;
  let totalErrors = 0;
  for (let minute = 1; minute <= Math.ceil(minutes); minute++) {
    await sleep(Math.min(1, minutes - minute + 1) * 60_000);
    const sorted = latencies.sort((a, b) => a - b);
    const [minuteServed, minuteErrors] = [served, errors];
    [latencies, served, errors] = [[], 0, 0];
    totalServed += minuteServed;
    totalErrors += minuteErrors;
    const row = [
      String(minute).padStart(6),
      String(minuteServed).padStart(8),
      String(minuteErrors).padStart(7),
      ms(percentile(sorted, 0.5)),
      ms(percentile(sorted, 0.99)),
      ms(sorted.at(-1) ?? NaN),
      (await rssMiB(server.child.pid)).toFixed(1).padStart(8),
    ];
    console.log(row.join(" "));
  }
  running = false;
  measuring = false;
  await Promise.all(workers);
  const rssEnd = await rssMiB(server.child.pid);
  for (const client of clients) client.close();
  server.child.kill("SIGTERM");
  const status = await server.child.status;
  const stderr = (await server.stderr).trim();
  const summary = `${script}: ${totalServed} served, ${totalErrors} errors, RSS ` +
    `${rssStart.toFixed(1)} -> ${rssEnd.toFixed(1)} MiB, exit ${status.code}` +
    (stderr ? `, stderr: ${stderr.split("\n").length} lines` : "");
  console.log(summary);
  return summary;
}

const cpus = navigator.hardwareConcurrency;
console.log(
  `soak ${new Date().toISOString().slice(0, 10)}, Deno ${Deno.version.deno}, ` +
    `${Deno.build.os} ${Deno.osRelease()}, ${cpus} CPUs`,
);
const summaries = [];
for (const script of servers) summaries.push(await soak(script));
console.log(`\n${summaries.join("\n")}`);
