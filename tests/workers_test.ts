/**
 * `--workers N` on the TCP servers: N threads share the port, the log says which one served a
 * connection, one stop ends them all, a worker that dies is replaced, and what it needs (Linux,
 * `--unstable-net`, leave to read the scripts) is one clear line when missing.
 */

import assert from "node:assert/strict";
import {
  encoder,
  Proc,
  proxyV1,
  readBytes,
  runScript,
  sleep,
  startServer,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** What `--workers` needs beyond a script's own flags. */
const WORKER_FLAGS = ["--unstable-net", `--allow-read=${ROOT}`];

// Each over TCP and TLS, and behind a balancer (--proxy-protocol: the test sends the header).
const CASES = ["tsTserv.ts", "tsTservSS.ts"].flatMap((script) =>
  TRANSPORTS.filter(({ name }) => name !== "unix").flatMap((transport) =>
    [false, true].map((proxied) => ({ script, transport, proxied }))
  )
);

for (const { script, transport, proxied } of CASES) {
  const behind = proxied ? ", behind a balancer," : "";
  Deno.test(`${transport.name}: ${script} --workers 2${behind} serves from both workers, and one stop ends both`, async () => {
    const { server: serving } = transport;
    await using server = await startServer(
      script,
      [...serving.args, "--workers", "2", ...(proxied ? ["--proxy-protocol"] : [])],
      "127.0.0.1",
      { denoFlags: [...(serving.denoFlags ?? []), ...WORKER_FLAGS] },
    );
    const connect = () =>
      proxied
        ? transport.connectAfter(server.port, proxyV1("203.0.113.7", 51034))
        : transport.connect(server.port);
    // The kernel picks a worker by a hash of each connection's addresses: 40 connections all
    // to one worker would be a 1 in 2^39 chance.
    for (let i = 0; i < 40; i++) {
      using conn = await connect();
      const line = encoder.encode(`line ${i}\n`);
      await writeAll(conn, line);
      const reply = new TextDecoder().decode(await readBytes(conn, 27 + line.length));
      assert.equal(unstamped(reply), `[STAMP] line ${i}\n`);
    }
    // Idle clients, then one Ctrl-C: every worker stops, as quickly as a lone server does.
    const idle = await Promise.all([1, 2, 3, 4].map(connect));
    await sleep(100);
    const before = performance.now();
    const result = await server.stop("SIGINT");
    const took = performance.now() - before;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(took < 1500, `took ${took} ms`);
    for (const conn of idle) {
      assert.equal(await conn.read(new Uint8Array(8)), null, "an idle client sees the end");
      conn.close();
    }
    const log = result.stdout;
    assert.match(log, /^2 workers share the port$/m);
    for (const n of [1, 2]) {
      assert.match(log, new RegExp(`^\\[worker ${n}\\] waiting for connection on `, "m"));
      const client = proxied ? "203\\.0\\.113\\.7:51034 via 127\\.0\\.0\\.1:" : "127\\.0\\.0\\.1:";
      assert.match(
        log,
        new RegExp(`^\\[worker ${n}\\] \\.\\.\\.connected from: ${client}`, "m"),
      );
      assert.match(log, new RegExp(`^\\[worker ${n}\\] server stopped \\(SIGINT\\)$`, "m"));
    }
    assert.match(log, /\nserver stopped \(SIGINT\)\n$/, "the first thread says so last");
  });
}

Deno.test("a worker that dies is logged and replaced, and the server goes on", async () => {
  const proc = new Proc(Deno.execPath(), [
    "run",
    "-N=127.0.0.1",
    ...WORKER_FLAGS,
    `${ROOT}/tests/peers/crashing_workers.ts`,
  ]);
  try {
    const [, port] = await proc.stdout.waitFor(/^waiting for connection on 127\.0\.0\.1:(\d+)/m);
    const ask = async (first: string) => {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await writeAll(conn, encoder.encode(first));
      return new TextDecoder().decode(await readBytes(conn, 2));
    };
    assert.equal(await ask("!"), "", "that worker died");
    await proc.stderr.waitFor(/^worker \d ended: .*dying on purpose; starting another$/m);
    await proc.stdout.waitFor(
      /^\[worker \d\] waiting for connection on .*\n[^]*\[worker \d\] waiting/m,
    );
    await sleep(100); // the new worker's listener is in the kernel's group by now
    for (let i = 0; i < 10; i++) assert.match(await ask("?"), /^[12]\n$/);
  } finally {
    proc.kill("SIGTERM");
  }
  const result = await proc.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\nserver stopped \(SIGTERM\)\n$/);
});

// Without --unstable-net: in errors_test.ts, which runs a copy away from our deno.json.
Deno.test("--workers says what it needs in one line: leave to read, TCP", async () => {
  const cases: [string[], string[], RegExp, number][] = [
    [
      ["--unstable-net"],
      ["--workers", "2"],
      new RegExp(`^error: --workers needs leave to read the scripts, .*--allow-read=${ROOT}\\)$`),
      1,
    ],
    [WORKER_FLAGS, ["--workers", "2", "--unix", "/tmp/x.sock"], /^error: --workers is for TCP$/, 2],
    [WORKER_FLAGS, ["--workers", "0"], /^error: --workers must be a whole number from 1/, 2],
  ];
  for (const [denoFlags, args, message, code] of cases) {
    for (const script of ["tsTserv.ts", "tsTservSS.ts"]) {
      const result = await runScript(script, ["--port", "0", ...args], undefined, { denoFlags });
      assert.equal(result.code, code, `${script} ${args}: ${result.stderr}`);
      assert.match(result.stderr.split("\n")[0], message);
    }
  }
});
