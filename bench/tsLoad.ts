#!/usr/bin/env -S deno run -N --unstable-net
/**
 * Load generator for timestamp servers: ours, the book's, or your own. Each of `--conns`
 * clients keeps one request in flight (a new one as soon as the last is answered), every reply
 * is checked (a stamp, then exactly the payload sent), and at the end it prints requests/s,
 * latency percentiles, errors and, for UDP, the requests lost.
 *
 * - `--proto tcp` (default): a connection per client, many requests each (`tsTserv`).
 * - `--proto udp`: a socket per client, a datagram per request (`tsUserv`).
 * - `--proto ss`: a connection per request, one line each (`tsTservSS`): requests/s is then
 *   connections/s.
 *
 * ```sh
 * deno run -N --no-prompt scripts/tsTserv.ts -q              # in one terminal
 * deno run -N --unstable-net bench/tsLoad.ts -c 16 -d 10   # in another
 * deno run -N --unstable-net bench/tsLoad.ts --proto ss -p 21567 --json
 * ```
 *
 * It goes to 127.0.0.1 unless told otherwise, and stops at its deadline (or at Ctrl-C, with
 * the figures so far) whatever the server does. Exit code 0 if every reply was right, 1 if not
 * (or if none came).
 *
 * @module
 */

import { fatal } from "../lib/cli.ts";
import { usageError } from "../lib/command.ts";
import { loadExtra } from "../lib/explain.ts";
import { type Command, extraFlags, flag, parseFlags } from "../server/flags.ts";
import { trapStopSignals } from "../lib/shutdown.ts";
import { protoFlag } from "../server/proto.ts";
import { type LoadResult, type Progress, runLoad } from "./load_engine.ts";

const HOST = "127.0.0.1";
const PORT = 21567;

/** This script's command line: the flags it takes, and their defaults. */
export const COMMAND = {
  script: "bench/tsLoad.ts",
  about: "load generator: requests/s, latency and errors of a timestamp server",
  run: "-N --unstable-net",
  flags: {
    host: flag.host(HOST, "server to connect to"),
    port: flag.port(PORT, "server port"),
    proto: protoFlag("tcp, udp, or ss: tcp with a connection per line"),
    conns: flag.whole("conns", 16, "clients at once, each with one request in flight", {
      max: 10_000,
      value: "N",
      short: "c",
    }),
    duration: flag.seconds("duration", 10, "how long to measure", { max: 3600, short: "d" }),
    warmup: flag.seconds("warmup", 1, "load before measuring, not counted", {
      zero: "none",
      max: 3600,
    }),
    size: flag.whole("size", 64, "payload bytes per request, a newline included for ss", {
      max: 65_507,
    }),
    timeout: flag.seconds("timeout", 1, "count a UDP reply lost after this long"),
    json: flag.onOff("json", "print the results as one JSON object"),
    ...extraFlags.tlsClient, // --tls, --ca: tcp and ss over TLS
    ...extraFlags.unixClient, // --unix: tcp and ss over a Unix socket
    trace: extraFlags.trace, // --trace: each socket call, as it happens (a line per request!)
  },
} satisfies Command;

/** Runs the load, prints the figures; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const options = parseFlags(args, COMMAND);
  if (!options) return 0;
  if (options.ca !== undefined && !options.tls) throw usageError(COMMAND, "--ca goes with --tls");
  if (options.tls && options.proto === "udp") throw usageError(COMMAND, "--tls is for tcp and ss");
  if (options.unix !== undefined && (options.tls || options.proto === "udp")) {
    throw usageError(COMMAND, "--unix is for tcp and ss, without TLS");
  }
  // --trace: each socket call from here on, on stderr (an extra: lib/extras/trace.ts).
  if (options.trace) {
    (await loadExtra("--trace", () => import("../lib/extras/trace.ts"))).traceSocketCalls();
  }
  using stop = trapStopSignals(); // Ctrl-C ends the run early, with the figures so far

  // A live line on a terminal only: piped output stays clean.
  const live = Deno.stderr.isTerminal() && !options.json;
  const result = await runLoad(
    { ...options, signal: stop.signal, tls: options.tls ? { ca: options.ca } : undefined },
    live ? showProgress : undefined,
  );
  if (live) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));

  console.log(options.json ? JSON.stringify(result) : report(result, options.warmup));
  return result.errors > 0 || result.requests === 0 ? 1 : 0;
}

function showProgress(progress: Progress): void {
  const what = progress.warming ? "warming up" : "measuring";
  const line = `\r\x1b[K${progress.elapsed} s  ${what}  ${count(progress.lastSecond)} requests/s` +
    `  ${progress.errors} errors`;
  Deno.stderr.writeSync(new TextEncoder().encode(line));
}

/** From this share of a core on, the load generator, not the server, set the pace. */
const NEAR_FULL = 0.9;

/** The figures, for a person. */
export function report(result: LoadResult, warmup: number): string {
  const kind = result.proto === "ss" ? "connections" : "requests";
  const { p50, p90, p99, max } = result.latency;
  const warm = result.stoppedInWarmup
    ? " of warm-up (stopped before measuring)"
    : warmup > 0
    ? ` after ${warmup} s of warm-up`
    : "";
  const lines = [
    `${result.proto} to ${result.server}: ${plural(result.conns, "client")}, ` +
    `${result.size}-byte payloads, ${result.seconds.toFixed(1)} s${warm}`,
  ];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(13)}${text}`);
  row(`${kind}:`, `${count(result.requests)}, ${count(result.rate)}/s`);
  row("latency:", `p50 ${ms(p50)}  p90 ${ms(p90)}  p99 ${ms(p99)}  max ${ms(max)}`);
  row("errors:", count(result.errors));
  for (const [message, times] of Object.entries(result.errorKinds)) {
    row("", `${count(times)} × ${message}`);
  }
  if (result.proto === "udp") {
    const sent = result.requests + result.lost;
    const share = sent > 0 ? (100 * result.lost / sent).toFixed(2) : "0";
    row("lost:", `${count(result.lost)} (${share}%)`);
  }
  row("answered:", `${result.connsServed} of ${plural(result.conns, "client")}`);
  const limit = result.loadCpu >= NEAR_FULL ? " (near 100%: the limit was here)" : "";
  row("own CPU:", `${Math.round(result.loadCpu * 100)}% of a core${limit}`);
  if (result.hint) row("hint:", result.hint);
  return lines.join("\n");
}

const plural = (n: number, noun: string) => `${count(n)} ${noun}${n === 1 ? "" : "s"}`;
const count = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (value: number) => Number.isNaN(value) ? "-" : `${value.toFixed(2)} ms`;

if (import.meta.main) {
  Deno.exit(await main(Deno.args).catch(fatal));
}
