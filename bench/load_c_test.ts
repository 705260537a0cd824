/**
 * The C load generator (`bench/load.c`) and the C epoll server (`bench/peers/epoll_server.c`),
 * built with the system's `cc` as the benchmark builds them: load.c must count every reply
 * from our servers and the C one as right, tell wrong ones from right ones as tsLoad does, and
 * print tsLoad's figures. Short runs (1 s of load at most): these check what it reports, not
 * how fast anything is. Skipped, visibly, where there is no `cc`.
 */
import assert from "node:assert/strict";
import type { LoadResult } from "./load_engine.ts";
import { writeAll } from "../lib/prompt.ts";
import { stampReply } from "../lib/timestamp.ts";
import { type Listening, startListening } from "../tools/proc.ts";
import { denoArgs } from "../tools/scripts.ts";

const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

const hasCc = await new Deno.Command("cc", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);
if (!hasCc) console.warn("skipping the load.c tests: no `cc` on the PATH");

/** Where the two programs are built, once for all the tests; removed when the tests end. */
let built: Promise<{ load: string; server: string; dir: string }> | undefined;

function build(): Promise<{ load: string; server: string; dir: string }> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "ts-deno-load-c-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const compile = async (source: string, out: string) => {
      const { code, stderr } = await new Deno.Command("cc", {
        args: ["-O2", "-Wall", "-Wextra", "-o", out, `${root}${source}`],
        stdout: "null",
        stderr: "piped",
      }).output();
      const said = decoder.decode(stderr);
      assert.equal(code, 0, `cc ${source} failed:\n${said}`);
      assert.equal(said, "", `cc ${source} warned:\n${said}`);
      return out;
    };
    const [load, server] = await Promise.all([
      compile("bench/load.c", `${dir}/load`),
      compile("bench/peers/epoll_server.c", `${dir}/epoll_server`),
    ]);
    return { load, server, dir };
  })();
  return built;
}

/** Runs load.c to its end (10 s at most); its exit code, figures and stderr. */
async function load(args: string[]): Promise<{ code: number; result: LoadResult; ms: number }> {
  const { load } = await build();
  const started = performance.now();
  const out = await new Deno.Command(load, {
    args: ["--warmup", "0", ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  const ms = performance.now() - started;
  const stdout = decoder.decode(out.stdout);
  assert.equal(decoder.decode(out.stderr), "", "nothing on stderr during a run");
  const lines = stdout.split("\n");
  assert.equal(lines.length, 2, `one line of JSON, then nothing: ${stdout}`);
  const result: LoadResult = JSON.parse(lines[0]);
  assertShape(result);
  return { code: out.code, result, ms };
}

/** load.c's flags for `conns` clients of `proto` for `seconds`, then `rest` (where, and more). */
const flags = (proto: string, conns: number, seconds: number, ...rest: string[]) => [
  ...["--proto", proto, "-c", `${conns}`, "-d", `${seconds}`],
  ...rest,
];

/** The fields of tsLoad's LoadResult (but `hint`, which load.c leaves out), of their types. */
function assertShape(result: LoadResult): void {
  const fields = [
    "proto",
    "server",
    "conns",
    "size",
    "seconds",
    "stoppedInWarmup",
    "requests",
    "rate",
    "latency",
    "errors",
    "errorKinds",
    "lost",
    "connsServed",
    "loadCpu",
  ];
  assert.deepEqual(Object.keys(result).sort(), [...fields].sort());
  assert.equal(result.stoppedInWarmup, false);
  for (const field of ["conns", "size", "seconds", "requests", "rate", "errors", "lost"]) {
    assert.equal(typeof result[field as keyof LoadResult], "number", field);
  }
  assert.ok(result.loadCpu >= 0 && result.loadCpu < 1.5, `loadCpu ${result.loadCpu}`);
  const { p50, p90, p99, max } = result.latency;
  if (result.requests === 0) {
    assert.deepEqual(result.latency, { p50: null, p90: null, p99: null, max: null });
  } else {
    assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(result.latency));
  }
}

/** A server started as the benchmark starts its servers, stopped when the test ends. */
async function serve(command: string[]): Promise<Listening & AsyncDisposable> {
  const server = await startListening(command, root);
  return {
    ...server,
    async [Symbol.asyncDispose]() {
      server.child.kill("SIGTERM");
      const status = await server.child.status;
      const stderr = await server.stderr;
      assert.equal(stderr, "", "the server said nothing on stderr");
      assert.equal(status.code, 0, "the server stopped cleanly on SIGTERM");
    },
  };
}

/** The production server, `tsd --proto proto -q`, on a free port of loopback. */
function ourServer(proto: string): string[] {
  const args = ["--proto", proto, "--host", "127.0.0.1", "--port", "0", "-q"];
  return [Deno.execPath(), ...denoArgs("tsd.ts", args)];
}

/** Asserts a run in which every reply was right. */
function assertAllRight(code: number, result: LoadResult, conns: number): void {
  assert.equal(result.errors, 0, JSON.stringify(result.errorKinds));
  assert.ok(result.requests > 10, `only ${result.requests} requests`);
  assert.equal(result.connsServed, conns);
  assert.equal(result.lost, 0);
  assert.equal(code, 0);
}

for (const proto of ["tcp", "ss", "udp"] as const) {
  Deno.test({
    name: `load.c --proto ${proto} finds every reply of tsd --proto ${proto} right`,
    ignore: !hasCc,
    async fn() {
      await using server = await serve(ourServer(proto));
      const { code, result } = await load(flags(proto, 4, 1, "-p", `${server.port}`));
      assertAllRight(code, result, 4);
      assert.equal(result.proto, proto);
      assert.equal(result.server, `127.0.0.1:${server.port}`);
      assert.equal(result.conns, 4);
      assert.equal(result.size, 64);
      assert.ok(result.seconds >= 1 && result.seconds < 1.2, `${result.seconds} s`);
    },
  });
}

for (const proto of ["tcp", "ss", "udp"]) {
  Deno.test({
    name: `load.c --proto ${proto} finds every reply of the C epoll server right`,
    ignore: !hasCc,
    async fn() {
      const { server: binary } = await build();
      await using server = await serve([binary, proto]);
      // A warm-up, and a payload of the largest size, which a reply still holds whole.
      const { code, result } = await load([
        ...["--proto", proto, "-c", "8", "--warmup", "0.3", "-d", "0.7", "--size", "1024"],
        ...["-p", `${server.port}`],
      ]);
      assertAllRight(code, result, 8);
      assert.equal(result.size, 1024);
      assert.ok(result.seconds >= 0.7 && result.seconds < 0.9, `${result.seconds} s measured`);
    },
  });
}

for (const proto of ["tcp", "ss"]) {
  Deno.test({
    name: `load.c --unix --proto ${proto} finds every reply of the C epoll server right`,
    ignore: !hasCc,
    async fn() {
      const { server: binary, dir } = await build();
      const path = `${dir}/${proto}.sock`;
      await using _server = await serve([binary, proto, path]);
      const { code, result } = await load(flags(proto, 4, 0.5, "--unix", path));
      assertAllRight(code, result, 4);
      assert.equal(result.server, `unix:${path}`);
    },
  });
}

/** Reads until end-of-file (5 s at most). */
async function readToEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    return await new Response(conn.readable).bytes();
  } finally {
    clearTimeout(timer);
  }
}

const STAMP = /\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] /g;

Deno.test({
  name: "the C epoll server (ss) answers a line sent in parts, and part of one at end-of-file",
  ignore: !hasCc,
  async fn() {
    const { server: binary } = await build();
    await using server = await serve([binary, "ss"]);
    const encoder = new TextEncoder();
    for (
      const [parts, end, expected] of [
        [["hel", "lo\n"], false, "hello\n"],
        [["a\nmore"], false, "a\n"], // the line only; the rest is read away, not reset
        [["partial"], true, "partial"],
      ] as const
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      for (const part of parts) {
        await writeAll(conn, encoder.encode(part));
        await new Promise((resolve) => setTimeout(resolve, 50)); // a read of its own
      }
      if (end) await conn.closeWrite();
      const reply = decoder.decode(await readToEnd(conn));
      assert.match(reply, new RegExp(`^${STAMP.source}${expected}$`), JSON.stringify(parts));
    }
  },
});

Deno.test({
  name: "the C epoll server (tcp) keeps what a socket had no room for, and sends it later",
  ignore: !hasCc,
  async fn() {
    const { server: binary } = await build();
    await using server = await serve([binary, "tcp"]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    // Far more than the sockets' buffers hold, sent before a byte is read back.
    const total = 8 * 1024 * 1024;
    const sending = (async () => {
      const chunk = new Uint8Array(64 * 1024).fill(0x78);
      for (let sent = 0; sent < total; sent += chunk.length) await writeAll(conn, chunk);
      await conn.closeWrite();
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const reply = decoder.decode(await readToEnd(conn));
    await sending;
    const stamps = reply.match(STAMP)?.length ?? 0;
    assert.ok(stamps >= total / 1024, `${stamps} stamps: one per read of up to 1024 bytes`);
    assert.equal(reply.length - 27 * stamps, total);
    assert.equal(reply.replace(STAMP, "").replaceAll("x", ""), "");
  },
});

/** A TCP server of the test's own, which treats each connection with `handle`. */
function tcpServer(handle: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const serving = (async () => {
    const handlers: Promise<void>[] = [];
    try {
      for await (const conn of listener) {
        open.add(conn);
        handlers.push(
          handle(conn).catch(() => {}).finally(() => {
            open.delete(conn);
            conn.close();
          }),
        );
      }
    } catch {
      // The listener was closed.
    }
    await Promise.all(handlers);
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) conn.close(); // their handlers' reads then fail, and they end
      await serving;
    },
  };
}

for (
  const [what, answer, kind] of [
    [
      "an echo without a stamp",
      (bytes: Uint8Array) => bytes.slice(),
      "a reply that is not a stamp and the payload",
    ],
    // A stamp, and the payload with one byte changed (its last: the first are the number).
    ["a stamped reply with one byte wrong", (bytes: Uint8Array) => {
      const wrong = bytes.slice();
      wrong[wrong.length - 1] ^= 0x20;
      return stampReply(wrong);
    }, "a reply that is not a stamp and the payload"],
    ["two replies to one request", (bytes: Uint8Array) => {
      const reply = stampReply(bytes);
      const twice = new Uint8Array(2 * reply.length);
      twice.set(reply);
      twice.set(reply, reply.length);
      return twice;
    }, "more bytes than the reply"],
  ] as const
) {
  Deno.test({
    name: `load.c counts ${what} as wrong replies`,
    ignore: !hasCc,
    async fn() {
      await using wrong = tcpServer(async (conn) => {
        const buffer = new Uint8Array(4096);
        for (let n; (n = await conn.read(buffer)) !== null;) {
          await writeAll(conn, answer(buffer.subarray(0, n)));
        }
      });
      const { code, result } = await load(flags("tcp", 2, 0.5, "-p", `${wrong.port}`));
      assert.equal(result.requests, 0);
      assert.ok(result.errors > 0);
      assert.deepEqual(Object.keys(result.errorKinds), [kind]);
      assert.equal(result.connsServed, 0);
      assert.equal(code, 1);
    },
  });
}

Deno.test({
  name: "load.c says so when the server closes each connection without a reply",
  ignore: !hasCc,
  async fn() {
    // It closes its side at once, then reads until load.c closes: no unread bytes, no reset.
    await using closer = tcpServer(async (conn) => {
      await conn.closeWrite();
      const buffer = new Uint8Array(4096);
      while ((await conn.read(buffer)) !== null);
    });
    const { code, result } = await load(flags("tcp", 2, 0.5, "-p", `${closer.port}`));
    assert.equal(result.requests, 0);
    assert.ok(result.errors > 2, `${result.errors} errors: retried after each?`);
    assert.deepEqual(Object.keys(result.errorKinds), ["the server closed the connection"]);
    assert.equal(code, 1);
  },
});

Deno.test({
  name: "load.c ends on time when the server never answers",
  ignore: !hasCc,
  async fn() {
    await using silent = tcpServer(async (conn) => {
      const buffer = new Uint8Array(4096);
      while ((await conn.read(buffer)) !== null);
    });
    const { code, result, ms } = await load(flags("ss", 4, 0.5, "-p", `${silent.port}`));
    assert.equal(result.requests, 0);
    assert.equal(result.errors, 0, "cut off by load.c: not the server's fault");
    assert.ok(ms < 0.5 * 1000 + 1000, `${ms} ms: the grace for replies in flight is 0.5 s`);
    assert.equal(code, 1);
  },
});

Deno.test({
  name: "load.c counts UDP requests without a reply as lost",
  ignore: !hasCc,
  async fn() {
    // A socket that reads every datagram and answers none.
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const reading = (async () => {
      try {
        while (true) await socket.receive();
      } catch {
        // Closed.
      }
    })();
    try {
      const port = (socket.addr as Deno.NetAddr).port;
      const { result } = await load(flags("udp", 3, 0.5, "--timeout", "0.1", "-p", `${port}`));
      assert.equal(result.requests, 0);
      assert.equal(result.errors, 0);
      // Each client's request is lost every 0.1 s (checked every 25 ms), and once at the end.
      assert.ok(result.lost >= 3 * 4 && result.lost <= 3 * 7, `${result.lost} lost`);
    } finally {
      socket.close();
      await reading;
    }
  },
});

Deno.test({
  name: "load.c refuses a bad command line with exit code 2, and a closed port with 1",
  ignore: !hasCc,
  async fn() {
    const { load } = await build();
    const run = async (args: string[]) => {
      const out = await new Deno.Command(load, { args, stdout: "piped", stderr: "piped" }).output();
      return {
        code: out.code,
        stdout: decoder.decode(out.stdout),
        stderr: decoder.decode(out.stderr),
      };
    };
    const port = ["-p", "1"];
    for (
      const args of [
        ["--size", "1025", ...port],
        ["--size", "1", ...port],
        ["--proto", "udp", "--unix", "/tmp/x.sock"],
        ["--proto", "sctp", ...port],
        ["-c", "0", ...port],
        ["-d", "0", ...port],
        ["--bogus", ...port],
        ["-c", "4"], // no server
        [...port, "extra"],
      ]
    ) {
      const { code, stdout, stderr } = await run(args);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      assert.equal(stdout, "");
      assert.match(stderr, /^load: |unrecognized option/, args.join(" "));
    }
    // A port that was free a moment ago: nothing listens there.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const free = listener.addr.port;
    listener.close();
    const { code, stdout, stderr } = await run(["-c", "2", "-d", "1", "-p", `${free}`]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.match(stderr, /^load: cannot connect to 127\.0\.0\.1:\d+: Connection refused\n$/);
  },
});
