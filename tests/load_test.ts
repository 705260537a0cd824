/**
 * The load generator, `tsLoad.ts`, run as a user runs it: against tsd with each `--proto` (quiet,
 * as a server under load is run), and against servers that answer wrongly, lose datagrams, serve
 * one client at a time or never answer. Short runs: these check what it reports, not how fast
 * anything is.
 */
import assert from "node:assert/strict";
import type { LoadResult } from "../bench/load_engine.ts";
import { report } from "../bench/tsLoad.ts";
import { stampReply } from "../lib/timestamp.ts";
import type { Proto } from "../server/proto.ts";
import {
  denoArgs,
  Proc,
  runScript,
  sleep,
  SOCKETS,
  type SpawnOptions,
  spawnScript,
  startPeerServer,
  startServer,
} from "./helpers.ts";
import { startTsd } from "./commands.ts";

/** Runs tsLoad with `--json` and a short run; returns its figures and exit code. */
async function load(
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number; result: LoadResult }> {
  const short = ["--json", "--warmup", "0", "-d", "0.5"];
  const run = await runScript("tsLoad.ts", [...short, ...args], undefined, options);
  assert.equal(run.stderr, "", "nothing on stderr when it is not a terminal");
  return { code: run.code, result: JSON.parse(run.stdout) };
}

/** tsd with `--proto proto`, quiet. */
const tsd = (proto: Proto) => ({
  name: `tsd --proto ${proto}`,
  start: () => startTsd(proto, ["-q"]),
});
/** The lesson tsTserv, which has no -q, and leaves TCP_NODELAY to tsd: right, if not as fast. */
const tsTserv = { name: "tsTserv", start: () => startServer("tsTserv.ts") };

for (
  const [served, proto, extra] of [
    [tsd("tcp"), "tcp", []],
    [tsd("tcp"), "tcp", ["--size", "5000"]], // answered in stamped parts of 1024 bytes
    [tsTserv, "tcp", ["--size", "5000"]],
    [tsd("ss"), "ss", []],
    [tsd("udp"), "udp", []],
  ] as const
) {
  const flags = ["--proto", proto, ...extra].join(" ");
  Deno.test(`tsLoad ${flags} checks every reply from ${served.name}`, async () => {
    await using server = await served.start();
    const port = String(server.port);
    const { code, result } = await load(["--proto", proto, "-p", port, "-c", "4", ...extra]);
    assert.equal(code, 0);
    assert.equal(result.errors, 0, JSON.stringify(result.errorKinds));
    assert.ok(result.requests > 10, `only ${result.requests} requests`);
    assert.equal(result.connsServed, 4);
    assert.ok(result.rate > 0 && result.seconds >= 0.5 && result.seconds < 1);
    const { p50, p90, p99, max } = result.latency;
    assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(result.latency));
    assert.equal(result.lost, 0);
    // A long message comes back in stamped parts, each one write: with Nagle's algorithm on,
    // each part after the first would wait for the client's delayed ACK (40 ms).
    if (extra.length > 0 && served !== tsTserv) {
      assert.ok(p50 < 20, `p50 ${p50} ms: TCP_NODELAY is not set`);
    }
    assert.equal((await server.stop()).stderr, "");
  });
}

for (const proto of ["tcp", "ss"]) {
  Deno.test(`tsLoad --unix --proto ${proto} checks every reply from tsd --proto ${proto} on a Unix socket`, async () => {
    const path = `${SOCKETS}/load.sock`;
    const access = { denoFlags: [`--allow-read=${path}`, `--allow-write=${path}`, "--allow-sys"] };
    const proc = spawnScript("tsd.ts", ["--proto", proto, "-q", "--unix", path], access);
    try {
      await proc.stdout.waitFor(/^waiting for connection on unix:/m);
      const { code, result } = await load(["--proto", proto, "--unix", path, "-c", "4"], access);
      assert.equal(code, 0);
      assert.equal(result.server, `unix:${path}`);
      assert.equal(result.errors, 0, JSON.stringify(result.errorKinds));
      assert.ok(result.requests > 10, `only ${result.requests} requests`);
    } finally {
      proc.kill("SIGTERM");
      assert.equal((await proc.finish()).code, 0);
    }
  });
}

Deno.test("tsLoad prints its figures for a person, and no progress line when piped", async () => {
  await using server = await startTsd("tcp", ["-q"]);
  const run = await runScript("tsLoad.ts", ["-p", String(server.port), "-c", "2", "-d", "0.5"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stdout,
    /^tcp to 127\.0\.0\.1:\d+: 2 clients, 64-byte payloads, 0\.5 s after 1 s/,
  );
  assert.match(run.stdout, /^requests: +[\d,]+, [\d,]+\/s$/m);
  assert.match(run.stdout, /^latency: +p50 [\d.]+ ms {2}p90 [\d.]+ ms {2}p99 [\d.]+ ms {2}max /m);
  assert.match(run.stdout, /^errors: +0$/m);
  assert.match(run.stdout, /^answered: +2 of 2 clients$/m);
  assert.equal(run.stderr, "", "no progress line when stderr is not a terminal");
});

/** A TCP server on a free port that answers each read with `answer(bytes)`, or not at all. */
function fakeServer(answer: (data: Uint8Array) => Uint8Array | null) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          let n: number | null;
          while ((n = await conn.read(buffer)) !== null) {
            const reply = answer(buffer.slice(0, n));
            if (reply) await conn.write(reply);
          }
        } catch {
          // Closed by the test's end, or by the client.
        }
      })();
    }
  })();
  return {
    port: String(listener.addr.port),
    close() {
      listener.close();
      for (const conn of conns) conn.close();
    },
  };
}

Deno.test("tsLoad counts wrong replies as errors and exits 1", async () => {
  const cases: [string, (data: Uint8Array) => Uint8Array, RegExp][] = [
    ["an echo", (data) => data, /not a stamp and the payload/],
    ["a changed byte", (data) => {
      const reply = stampReply(data);
      reply[reply.length - 1] ^= 1;
      return reply;
    }, /not a stamp and the payload/],
    ["a stray byte", (data) => stampReply(new Uint8Array([...data, 0x21])), /more bytes than/],
  ];
  for (const [what, answer, kind] of cases) {
    const server = fakeServer(answer);
    try {
      const { code, result } = await load(["-p", server.port, "-c", "2"]);
      assert.equal(code, 1, what);
      assert.equal(result.requests, 0, what);
      assert.ok(result.errors > 0, what);
      assert.match(Object.keys(result.errorKinds).join("\n"), kind, what);
    } finally {
      server.close();
    }
  }
});

Deno.test("tsLoad ends on time against a server that never answers", async () => {
  const server = fakeServer(() => null);
  try {
    const started = performance.now();
    const { code, result } = await load(["-p", server.port, "-c", "8"]);
    assert.ok(performance.now() - started < 5000);
    assert.equal(code, 1, "no request answered");
    assert.deepEqual([result.requests, result.errors, result.connsServed], [0, 0, 0]);
  } finally {
    server.close();
  }
});

Deno.test("tsLoad counts UDP requests that get no reply as lost, not as errors", async () => {
  // Answers every other datagram.
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const buffer = new Uint8Array(2048);
    try {
      for (let k = 0;; k++) {
        const [data, from] = await socket.receive(buffer);
        if (k % 2 === 0) await socket.send(stampReply(data), from);
      }
    } catch {
      // Closed at the end.
    }
  })();
  try {
    const port = String((socket.addr as Deno.NetAddr).port);
    const { code, result } = await load([
      "--proto",
      "udp",
      "-p",
      port,
      "-c",
      "2",
      "--timeout",
      "0.05",
    ]);
    assert.equal(code, 0);
    assert.equal(result.errors, 0, JSON.stringify(result.errorKinds));
    assert.ok(result.requests > 0 && result.lost > 0, JSON.stringify(result));
  } finally {
    socket.close();
    await serving;
  }
});

Deno.test("tsLoad shows the book's one-at-a-time server answering one client of four", async () => {
  await using peer = await startPeerServer("tcp-server");
  const { code, result } = await load(["-p", String(peer.port), "-c", "4"]);
  assert.equal(code, 0);
  assert.equal(result.errors, 0, JSON.stringify(result.errorKinds));
  assert.equal(result.connsServed, 1);
  assert.ok(result.requests > 0);
});

Deno.test("tsLoad stops at Ctrl-C with the figures so far", async () => {
  await using server = await startTsd("tcp", ["-q"]);
  const proc = spawnScript("tsLoad.ts", ["--json", "-p", String(server.port), "-d", "60"]);
  await sleep(1500);
  proc.kill("SIGINT");
  const run = await proc.finish(5000);
  assert.equal(run.code, 0, run.stderr);
  const result: LoadResult = JSON.parse(run.stdout);
  assert.ok(result.seconds < 1 && result.requests > 0, run.stdout);
});

Deno.test("tsLoad stopped by Ctrl-C during its warm-up reports the warm-up, exit 0", async () => {
  await using server = await startTsd("tcp", ["-q"]);
  const args = ["--json", "-p", String(server.port), "-c", "4", "--warmup", "30", "-d", "30"];
  const proc = spawnScript("tsLoad.ts", args);
  await sleep(1500);
  proc.kill("SIGINT");
  const run = await proc.finish(5000);
  assert.equal(run.code, 0, run.stderr);
  const result: LoadResult = JSON.parse(run.stdout);
  assert.equal(result.stoppedInWarmup, true);
  assert.ok(result.requests > 0 && result.seconds > 1, run.stdout);
  assert.equal(result.connsServed, 4);
  assert.match(report(result, 30), / s of warm-up \(stopped before measuring\)$/m);
});

Deno.test("tsLoad says 'the limit was here' only when its own CPU was near a whole core", async () => {
  await using server = await startTsd("tcp", ["-q"]);
  const { result } = await load(["-p", String(server.port), "-c", "1"]);
  const at = (loadCpu: number) => report({ ...result, loadCpu }, 0).split("\n").at(-1);
  assert.equal(at(0.01), "own CPU:     1% of a core");
  assert.equal(at(0.97), "own CPU:     97% of a core (near 100%: the limit was here)");
});

Deno.test("tsLoad says what it saw when nothing was answered rightly", async () => {
  await using tcp = await startTsd("tcp", ["-q"]);
  await using ss = await startTsd("ss", ["-q"]);
  const port = (() => {
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return probe.addr.port;
  })();
  const cases: [string[], RegExp][] = [
    [["--proto", "ss", "-p", String(tcp.port)], /kept each connection open.*--proto tcp fits/],
    // A line server waits for a newline that --proto tcp never sends.
    [
      ["--proto", "tcp", "-p", String(ss.port)],
      /line server such as tsTservSS\? then use --proto ss/,
    ],
    // Without an ICMP "port unreachable" (some systems send none), only silence tells.
    [
      ["--proto", "udp", "-p", String(port)],
      /^no reply at all: (nothing listens for UDP there|is a UDP timestamp server listening there\?)$/,
    ],
  ];
  for (const [args, hint] of cases) {
    const { code, result } = await load([...args, "-c", "2"]);
    assert.equal(code, 1, args.join(" "));
    assert.equal(result.requests, 0);
    assert.match(result.hint ?? "", hint, args.join(" "));
    if (args[1] === "udp") assert.ok(result.lost > 0, "each datagram nobody took is lost");
  }
});

Deno.test("tsLoad says clearly when there is no server", async () => {
  const port = (() => {
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return probe.addr.port;
  })();
  const run = await runScript("tsLoad.ts", ["-p", String(port), "-d", "0.5"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^error: Cannot connect to 127\.0\.0\.1:\d+: connection refused/);
});

Deno.test("tsLoad shows a live progress line once a second on a terminal", async () => {
  await using server = await startTsd("tcp", ["-q"]);
  // `script` runs the command on a pseudo-terminal, as a user's shell would.
  const command = `${
    denoArgs("tsLoad.ts", ["-p", String(server.port), "-c", "2", "--warmup", "1", "-d", "2"])
      .map((arg) => `'${arg}'`).join(" ")
  }`;
  const run = await new Proc("script", ["-qec", `'${Deno.execPath()}' ${command}`, "/dev/null"])
    .finish();
  assert.equal(run.code, 0, run.stdout);
  const lines = run.stdout.split("\r\x1b[K").slice(1, -1);
  assert.ok(lines.length >= 2, JSON.stringify(run.stdout));
  assert.match(lines[0], /^1 s {2}warming up {2}[\d,]+ requests\/s {2}0 errors$/);
  assert.match(lines[1], /^2 s {2}measuring {2}[\d,]+ requests\/s {2}0 errors$/);
  for (const line of lines) assert.ok(!/ 0 requests/.test(line), line);
  assert.ok(run.stdout.includes("\r\x1b[Ktcp to 127.0.0.1:"), "the line is cleared first");
});

Deno.test("tsLoad says clearly when it may not open a socket per UDP client", async () => {
  await using server = await startTsd("udp", ["-q"]);
  const args = ["--proto", "udp", "-p", String(server.port), "-c", "100", "-d", "0.5"];
  const run = await runScript("tsLoad.ts", args, undefined, { maxFiles: 48 });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    "error: Cannot open 100 UDP sockets: too many open files (raise `ulimit -n`, or ask for " +
      "fewer --conns)\n",
  );
});
