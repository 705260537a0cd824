/**
 * The engine of the load generator, `bench/tsLoad.ts` (no book script loads it): clients that each keep one request in
 * flight against a timestamp server, check every reply, and time it.
 *
 * - `tcp`: one connection per client, a request after each reply (like `tsTclnt`).
 * - `ss`: a new connection per request, one line each, the reply then end-of-file (like
 *   `tsTclntSS` against `tsTservSS`): so requests/s is also connections/s.
 * - `udp`: one socket per client, a datagram after each reply; a reply that has not come back
 *   within the timeout counts as lost, and the client sends its next request.
 *
 * A reply is right only if it is a stamp followed by exactly the payload sent; each payload
 * carries its client's request number, so a late or misdirected reply cannot pass for the right
 * one. Latency runs from the first byte sent to the last byte of the reply (for `ss`, from
 * connect to end-of-file). Everything is bounded: the run ends at its deadline whatever the
 * server does, and latencies go to a fixed-size histogram (`node:perf_hooks`).
 *
 * @module
 */

import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import process from "node:process";
import { explainNetError } from "../lib/explain.ts";
import { Failure, hostPort } from "../lib/command.ts";
import { writeAll } from "../lib/prompt.ts";
import { udpAddressOf } from "../server/net.ts";
import { ReplyMatcher } from "../lib/reply.ts";
import { isStampAt, STAMP_START } from "../server/reply.ts";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import { readPem } from "../server/tls.ts";
import type { Proto } from "../server/proto.ts";
import { connectStream, type StreamTarget } from "../server/transport.ts";

/** What the load generator speaks: TCP, UDP, or TCP with a connection per line (`tsTservSS`). */
export type { Proto };

/** What load to make, and where. */
export interface LoadOptions {
  proto: Proto;
  host: string;
  port: number;
  /** Clients at once, each with one request in flight. */
  conns: number;
  /** Seconds measured. */
  duration: number;
  /** Seconds of load before measuring; nothing of it is counted but errors. */
  warmup: number;
  /** Payload bytes per request (for `ss`, the newline included). */
  size: number;
  /** UDP: seconds after which a reply counts as lost. */
  timeout: number;
  /** Ends the run early (Ctrl-C), with the figures so far. */
  signal?: AbortSignal;
  /** `tcp` and `ss` over TLS, trusting the CA in the PEM file `ca` besides the system's. */
  tls?: { ca?: string };
  /** `tcp` and `ss` over a Unix socket at this path, instead of `host` and `port`. */
  unix?: string;
}

/** Latency percentiles, in milliseconds. */
export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** What a run measured. */
export interface LoadResult {
  proto: Proto;
  /** The server, `host:port`. */
  server: string;
  conns: number;
  size: number;
  /** Seconds measured: after the warm-up, or the warm-up itself if the run was stopped in it. */
  seconds: number;
  /** Whether the run was stopped (Ctrl-C) before the warm-up was over. */
  stoppedInWarmup: boolean;
  /** Requests answered rightly while measuring. */
  requests: number;
  /** Requests answered rightly per second. */
  rate: number;
  latency: Latency;
  /** Wrong replies, and connections that failed, over the whole run. */
  errors: number;
  /** The first few error messages, each once, with how often each came. */
  errorKinds: Record<string, number>;
  /** UDP: requests with no reply within the timeout, while measuring. */
  lost: number;
  /** How many clients had at least one request answered rightly while measuring. */
  connsServed: number;
  /** When nothing was answered rightly: what was seen instead, and what may fit the server. */
  hint?: string;
  /**
   * The load generator's own CPU time while measuring, as a share of one core: near 1, it was
   * the limit, and requests/s says more about it than about the server.
   */
  loadCpu: number;
}

/** Once a second while a run goes on. */
export interface Progress {
  /** Seconds since the start, warm-up included. */
  elapsed: number;
  warming: boolean;
  /** Requests answered rightly in the last second. */
  lastSecond: number;
  errors: number;
}

/** Error kinds kept by name; more would only repeat themselves. */
const MAX_ERROR_KINDS = 8;
/** How long a client waits after a failed connection before it tries again. */
const RETRY_MS = 50;
/** How long, past the deadline, a run waits for replies in flight before it cuts them off. */
const GRACE_MS = 500;

/** A request that came back wrong: the message says how. */
class BadReply extends Error {}

/** The state of one run, shared by its clients. */
class Run {
  running = true;
  measuring = false;
  /** Set when the run closes what is still open: failures from then on are ours. */
  cutOff = false;
  /** `ss`: whole replies whose end-of-file never came (a server that keeps connections open). */
  unended = 0;
  /** `udp`: datagrams that the system said no one is listening for. */
  refused = 0;
  /** Right replies while measuring, and in all (for the progress line). */
  requests = 0;
  answeredAll = 0;
  errors = 0;
  lost = 0;
  errorKinds = new Map<string, number>();
  histogram: RecordableHistogram = createHistogram();
  /** Everything to close when the run ends, so that no client waits for ever. */
  open = new Set<{ close(): void }>();
  served: boolean[];
  #lastStamp = new Uint8Array(STAMP_LENGTH);

  constructor(conns: number) {
    this.served = new Array(conns).fill(false);
  }

  /** Drops what was counted so far (the warm-up's), but the errors. */
  restart(): void {
    this.requests = 0;
    this.lost = 0;
    this.served.fill(false);
    this.histogram.reset();
  }

  /** A request by client `id`, sent at `sentAt` (from `performance.now()`), answered rightly. */
  answered(id: number, sentAt: number): void {
    this.answeredAll++;
    if (!this.measuring) return;
    this.requests++;
    this.served[id] = true;
    const nanoseconds = Math.round((performance.now() - sentAt) * 1e6);
    this.histogram.record(Math.max(1, nanoseconds));
  }

  failed(err: unknown): void {
    if (this.cutOff) return; // not the server's fault
    this.errors++;
    const kind = err instanceof Error ? err.message : String(err);
    const seen = this.errorKinds.get(kind);
    if (seen !== undefined) this.errorKinds.set(kind, seen + 1);
    else if (this.errorKinds.size < MAX_ERROR_KINDS) this.errorKinds.set(kind, 1);
  }

  /**
   * Whether `reply` is a stamp and then exactly `payload`. The stamp changes once a second, so
   * the last good one is kept, and a reply with the same stamp costs a byte comparison.
   */
  isReply(reply: Uint8Array, payload: Uint8Array): boolean {
    return holdsPayload(reply, payload) && this.isStamp(reply);
  }

  /** Whether `reply` starts with a stamp. */
  isStamp(reply: Uint8Array): boolean {
    const last = this.#lastStamp;
    let same = true;
    for (let i = 0; i < STAMP_LENGTH && same; i++) same = reply[i] === last[i];
    if (same) return true;
    if (!isStampAt(reply, 0)) return false;
    last.set(reply.subarray(0, STAMP_LENGTH));
    return true;
  }

  track<T extends { close(): void }>(resource: T): T {
    this.open.add(resource);
    return resource;
  }

  untrack(resource: { close(): void }): void {
    this.open.delete(resource);
    try {
      resource.close();
    } catch {
      // Closed already.
    }
  }
}

/** Whether `reply` is as long as one stamp and `payload`, and ends with exactly `payload`. */
function holdsPayload(reply: Uint8Array, payload: Uint8Array): boolean {
  if (reply.length !== STAMP_LENGTH + payload.length) return false;
  for (let i = 0; i < payload.length; i++) {
    if (reply[STAMP_LENGTH + i] !== payload[i]) return false;
  }
  return true;
}

/**
 * A client's payload: `size` bytes of letters, starting with its request number (as many
 * digits as fit, up to 12), and for `ss` ending with a newline.
 */
class Payload {
  readonly bytes: Uint8Array;
  #digits: number;

  constructor(size: number, id: number, line: boolean) {
    this.bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) this.bytes[i] = 0x61 + ((i + id) % 26); // a..z
    if (line) this.bytes[size - 1] = 0x0a;
    this.#digits = Math.min(12, line ? size - 1 : size);
  }

  /** Writes request number `n` into the payload. */
  number(n: number): Uint8Array {
    for (let i = this.#digits - 1; i >= 0; i--) {
      this.bytes[i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    return this.bytes;
  }
}

/**
 * Reads the reply to `payload` into `holder.buffer` (which grows as needed): a stamp and the
 * payload, or more stamps if the server answered in parts (it reads a long payload in several
 * pieces); for `untilEnd`, then end-of-file.
 *
 * @throws {BadReply} If the reply is not a stamp and exactly the payload.
 */
async function readReply(
  conn: Deno.Conn,
  holder: { buffer: Uint8Array },
  payload: Uint8Array,
  run: Run,
  untilEnd: boolean,
  first?: number | null, // what a first read into holder.buffer gave, if it was made already
): Promise<void> {
  const expected = STAMP_LENGTH + payload.length;
  // The longest a right reply can be: a stamp before every byte of the payload.
  const longest = (STAMP_LENGTH + 1) * payload.length;
  let got = 0;
  while (true) {
    if (got === holder.buffer.length) {
      const bigger = new Uint8Array(holder.buffer.length * 2);
      bigger.set(holder.buffer);
      holder.buffer = bigger;
    }
    const n = got === 0 && first !== undefined
      ? first
      : await conn.read(holder.buffer.subarray(got));
    if (n === null) {
      throw new BadReply(
        got === 0 ? "the server closed the connection" : "the server closed in mid-reply",
      );
    }
    got += n;
    // Tell a server that does not stamp its replies (an echo server, say) at once.
    if (holder.buffer[0] !== STAMP_START || (got >= STAMP_LENGTH && !run.isStamp(holder.buffer))) {
      throw new BadReply("a reply that is not a stamp and the payload");
    }
    if (got > longest) throw new BadReply("more bytes than the reply");
    if (got < expected) continue;
    const received = holder.buffer.subarray(0, got);
    // The usual case, one stamp (checked above) and the payload, is checked the fast way; a
    // server that stamps each read it makes may have answered in stamped parts.
    if (!holdsPayload(received, payload)) {
      const matcher = new ReplyMatcher(payload);
      matcher.scan(received);
      if (matcher.complete !== got) {
        if (matcher.goesOn) continue;
        throw new BadReply(
          matcher.complete > 0
            ? "more bytes than the reply"
            : "a reply that is not a stamp and the payload",
        );
      }
    }
    if (!untilEnd) return;
    run.unended++; // until end-of-file comes
    const more = await conn.read(holder.buffer);
    run.unended--;
    if (more !== null) throw new BadReply("more bytes than the reply");
    return;
  }
}

/**
 * A TCP client. For `tcp`, one connection carries a request after each reply (and a new one
 * is made if it fails); for `ss`, each request has a connection of its own, which the server
 * closes after its reply, and its latency includes the connect.
 */
async function tcpClient(id: number, address: Address, options: LoadOptions, run: Run) {
  const perRequest = options.proto === "ss";
  const payload = new Payload(options.size, id, perRequest);
  const holder = { buffer: new Uint8Array(Math.max(4096, 2 * (STAMP_LENGTH + options.size))) };
  let n = 0;
  while (run.running) {
    const connectedFrom = performance.now();
    let conn: Deno.Conn;
    try {
      conn = run.track(await connectStream(address as StreamTarget));
    } catch (err) {
      // A Failure says what it tried already: "Cannot connect to …: connection refused (…)".
      run.failed(
        err instanceof Failure ? err : new Error(`cannot connect: ${(err as Error).message}`),
      );
      await sleep(RETRY_MS);
      continue;
    }
    try {
      do {
        const bytes = payload.number(n++);
        const sentAt = perRequest ? connectedFrom : performance.now();
        // Usually one write sends it all and one read brings the whole reply: those are checked
        // here, without a function's frame each (the load generator must not be the limit).
        const sent = await conn.write(bytes);
        if (sent < bytes.length) await writeAll(conn, bytes.subarray(sent));
        const first = await conn.read(holder.buffer);
        const whole = first === STAMP_LENGTH + bytes.length &&
          run.isReply(holder.buffer.subarray(0, first), bytes);
        if (perRequest || !whole) {
          await readReply(conn, holder, bytes, run, perRequest, first);
        }
        run.answered(id, sentAt);
      } while (!perRequest && run.running);
    } catch (err) {
      run.failed(err);
      if (run.running) await sleep(RETRY_MS);
    } finally {
      run.untrack(conn);
    }
  }
}

/**
 * A UDP client: a datagram after each reply. UDP may lose a datagram, so there is no waiting
 * on a reply that may never come: the run's ticker counts a request lost once it is
 * `--timeout` old, and sends the client's next one.
 */
class UdpClient {
  #socket: Deno.DatagramConn;
  #server: Deno.NetAddr;
  #payload: Payload;
  #id: number;
  #run: Run;
  #n = 0;
  #bytes: Uint8Array = new Uint8Array(0);
  sentAt = 0;
  /** The request in flight was sent while measuring: lost, unless its reply comes. */
  measured = false;

  constructor(id: number, address: NetAddress, options: LoadOptions, run: Run) {
    const hostname = address.hostname.includes(":") ? "::" : "0.0.0.0";
    this.#socket = run.track(Deno.listenDatagram({ transport: "udp", hostname, port: 0 }));
    this.#server = { transport: "udp", ...address };
    this.#payload = new Payload(options.size, id, false);
    this.#id = id;
    this.#run = run;
  }

  /** Sends the next request. */
  send(): void {
    this.#bytes = this.#payload.number(this.#n++);
    this.sentAt = performance.now();
    this.measured = this.#run.measuring;
    this.#socket.send(this.#bytes, this.#server).catch((err) => this.#run.failed(err));
  }

  /** Receives replies until the run ends. */
  async serve(): Promise<void> {
    const buffer = new Uint8Array(65536);
    this.send();
    while (this.#run.running) {
      let data: Uint8Array;
      try {
        [data] = await this.#socket.receive(buffer);
      } catch (err) {
        if (err instanceof Deno.errors.ConnectionRefused && this.#run.running) {
          // The system says no one listens there (ICMP port unreachable): this one is lost.
          this.#run.refused++;
          this.#lost();
          await sleep(RETRY_MS);
          this.send();
          continue;
        }
        this.#run.failed(err); // ignored once the run has ended and closed the socket
        if (this.#run.running) await sleep(RETRY_MS);
        continue;
      }
      if (this.#run.isReply(data, this.#bytes)) {
        this.measured = false;
        this.#run.answered(this.#id, this.sentAt);
        if (this.#run.running) this.send();
      } else if (!this.#isLate(data)) {
        this.#run.failed(new BadReply("a reply that is not a stamp and the payload"));
        if (this.#run.running) this.send();
      }
    }
  }

  /** Whether `data` is the reply to an earlier request of ours (already counted lost). */
  #isLate(data: Uint8Array): boolean {
    const payload = data.subarray(STAMP_LENGTH);
    const ours = this.#bytes;
    if (payload.length !== ours.length) return false;
    for (let i = 12; i < ours.length; i++) if (payload[i] !== ours[i]) return false;
    return true;
  }

  /** Called by the run's ticker: counts the request in flight lost if it is too old. */
  check(now: number, timeoutMs: number): void {
    if (!this.#run.running || now - this.sentAt < timeoutMs) return;
    this.#lost();
    this.send();
  }

  /** Counts the request in flight lost, if it was sent while measuring. */
  #lost(): void {
    if (this.measured) this.#run.lost++;
    this.measured = false;
  }

  /** At the end of the run: a request sent while measuring and still unanswered is lost. */
  end(): void {
    this.#lost();
  }
}

type NetAddress = { hostname: string; port: number };
type Address = NetAddress | StreamTarget;

/** Waits `ms`, or until `signal` is aborted. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs a load: `options.warmup` seconds, then `options.duration` seconds measured. The first
 * connection (or the name's resolution) failing is thrown, as a {@linkcode Failure}; once the
 * run is under way, failures are counted and the clients go on.
 *
 * @param onProgress Called once a second.
 */
export async function runLoad(
  options: LoadOptions,
  onProgress?: (progress: Progress) => void,
): Promise<LoadResult> {
  const address = await reachable(options);
  const run = new Run(options.conns);
  run.measuring = true; // from the start: see below
  const ids = Array.from({ length: options.conns }, (_, id) => id);
  const udpClients = options.proto === "udp" && !("path" in address)
    ? openUdpClients(ids, address, options, run)
    : [];
  const clients = options.proto === "udp"
    ? udpClients.map((client) => client.serve())
    : ids.map((id) => tcpClient(id, address, options, run));

  // One ticker for the whole run: the progress line, and UDP requests gone unanswered.
  const startedAt = performance.now();
  const timeoutMs = options.timeout * 1000;
  let counted = 0;
  let nextProgress = startedAt + 1000;
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const client of udpClients) client.check(now, timeoutMs);
    if (onProgress && now >= nextProgress) {
      nextProgress += 1000;
      const elapsed = Math.round((now - startedAt) / 1000);
      onProgress({
        elapsed,
        warming: elapsed <= options.warmup, // the second just gone was the warm-up's
        lastSecond: run.answeredAll - counted,
        errors: run.errors,
      });
      counted = run.answeredAll;
    }
  }, Math.min(50, timeoutMs / 4));

  // Everything counts from the start; the warm-up's figures are dropped when it is over, unless
  // a Ctrl-C came first: then they are all there is to report.
  let measuredFrom = startedAt;
  let cpuFrom = process.cpuUsage();
  await sleep(options.warmup * 1000, options.signal);
  const stoppedInWarmup = options.signal?.aborted === true && options.warmup > 0;
  if (!stoppedInWarmup) {
    run.restart();
    measuredFrom = performance.now();
    cpuFrom = process.cpuUsage();
    await sleep(options.duration * 1000, options.signal);
  }
  run.measuring = false;
  const seconds = (performance.now() - measuredFrom) / 1000;
  const cpu = process.cpuUsage(cpuFrom);

  // Let the requests in flight finish (their replies are still checked), then cut off the rest.
  run.running = false;
  const finished = Promise.all(clients);
  await Promise.race([finished, sleep(GRACE_MS)]);
  clearInterval(ticker);
  run.cutOff = true;
  const unended = run.unended;
  for (const client of udpClients) client.end();
  for (const resource of run.open) run.untrack(resource);
  await finished;

  const ms = (percentile: number) =>
    run.histogram.count === 0 ? NaN : run.histogram.percentile(percentile) / 1e6;
  return {
    proto: options.proto,
    server: "path" in address ? `unix:${address.path}` : hostPort(address.hostname, address.port),
    conns: options.conns,
    size: options.size,
    seconds,
    requests: run.requests,
    rate: seconds > 0 ? run.requests / seconds : 0, // 0 s: stopped during the warm-up
    latency: { p50: ms(50), p90: ms(90), p99: ms(99), max: ms(100) },
    errors: run.errors,
    errorKinds: Object.fromEntries(run.errorKinds),
    lost: run.lost,
    connsServed: run.served.filter(Boolean).length,
    loadCpu: seconds > 0 ? (cpu.user + cpu.system) / 1e6 / seconds : 0,
    stoppedInWarmup,
    hint: run.requests > 0 ? undefined : hint(options, run, unended),
  };
}

/** When nothing was answered rightly, what the run saw instead. */
function hint(options: LoadOptions, run: Run, unended: number): string {
  const closed = run.errorKinds.has("the server closed the connection");
  if (unended > 0) {
    return "replies came, but the server kept each connection open after its reply: " +
      "--proto tcp fits such a server";
  }
  if (options.proto === "tcp" && closed) {
    return "the server closed each connection after one reply: --proto ss fits such a server";
  }
  if (options.proto === "udp" && run.answeredAll === 0) {
    return run.refused > 0
      ? "no reply at all: nothing listens for UDP there"
      : "no reply at all: is a UDP timestamp server listening there?";
  }
  if (run.errors === 0) {
    // A line server (tsTservSS) waits for a newline, which --proto tcp never sends.
    const line = options.proto === "tcp"
      ? " (is it a line server such as tsTservSS? then use --proto ss)"
      : "";
    return `no reply came: the server accepted, but never answered${line}`;
  }
  return "no reply was right: see the errors";
}

/** A socket for each UDP client; all or none, with a clear error if the process runs out. */
function openUdpClients(ids: number[], address: NetAddress, options: LoadOptions, run: Run) {
  try {
    return ids.map((id) => new UdpClient(id, address, options, run));
  } catch (err) {
    for (const socket of run.open) run.untrack(socket);
    if ((err as { code?: string }).code !== "EMFILE") {
      // Such as a copy run without --unstable-net, where Deno has no listenDatagram.
      const local = address.hostname.includes(":") ? "::" : "0.0.0.0";
      throw explainNetError(err, "open a UDP socket on", local, hostPort(local, 0));
    }
    throw new Failure(
      `Cannot open ${options.conns} UDP sockets: too many open files ` +
        "(raise `ulimit -n`, or ask for fewer --conns)",
      { cause: err },
    );
  }
}

/**
 * Resolves the server's name and, over TCP, makes sure something listens there, so that a
 * wrong port is one clear error rather than a run of failures. The address found is the one
 * every client then uses: no name lookup per connection.
 */
async function reachable(options: LoadOptions): Promise<Address> {
  if (options.proto === "udp") {
    return { hostname: await udpAddressOf(options.host, options.port), port: options.port };
  }
  if (options.unix !== undefined) {
    (await connectStream({ path: options.unix })).close();
    return { path: options.unix };
  }
  // The CA is read once for all the clients' connections.
  const ca = options.tls?.ca;
  const tls = options.tls && { caCerts: ca === undefined ? undefined : [readPem(ca, "--ca")] };
  const conn = await connectStream({ hostname: options.host, port: options.port, tls });
  // Over TLS the certificate is for the name, not the address it resolved to.
  const hostname = tls ? options.host : (conn.remoteAddr as Deno.NetAddr).hostname;
  conn.close();
  return { hostname, port: options.port, tls };
}
