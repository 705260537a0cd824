/**
 * `--workers N` on tsd's stream servers (`--proto tcp` and `ss`; the lessons have no
 * `--workers`): N threads share the port, the log says which one served a
 * connection, one stop ends them all, a worker that dies is replaced, and what it needs (Linux,
 * `--unstable-net`, leave to read the scripts) is one clear line when missing.
 */

import assert from "node:assert/strict";
import {
  encoder,
  openFiles,
  Proc,
  proxyV1,
  readBytes,
  sleep,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";
import { runCommand, startCommand, tsd } from "./commands.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** What `--workers` needs beyond a script's own flags. */
const WORKER_FLAGS = ["--unstable-net", `--allow-read=${ROOT}`];

/** tsd as tsTserv and as tsTservSS. */
const SERVERS = [tsd("tcp"), tsd("ss")];

// Each over TCP and TLS, and behind a balancer (--proxy-protocol: the test sends the header).
const CASES = SERVERS.flatMap((ours) =>
  TRANSPORTS.filter(({ name }) => name !== "unix").flatMap((transport) =>
    [false, true].map((proxied) => ({ ours, transport, proxied }))
  )
);

for (const { ours, transport, proxied } of CASES) {
  const behind = proxied ? ", behind a balancer," : "";
  Deno.test(`${transport.name}: ${ours.name} --workers 2${behind} serves from both workers, and one stop ends both`, async () => {
    const { server: serving } = transport;
    await using server = await startCommand(
      ours,
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

/** The workers' test server (`tests/peers/crashing_workers.ts`), run from `path`, and its port. */
async function crashingWorkers(path = `${ROOT}/tests/peers/crashing_workers.ts`, read = ROOT) {
  const proc = new Proc(Deno.execPath(), [
    "run",
    "-N=127.0.0.1",
    "--unstable-net",
    `--allow-read=${read}`,
    path,
  ]);
  const [, port] = await proc.stdout.waitFor(/^waiting for connection on 127\.0\.0\.1:(\d+)/m);
  /** Sends `first` on a new connection, and gives back what the worker answers. */
  const ask = async (first: string) => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await writeAll(conn, encoder.encode(first));
    return new TextDecoder().decode(await readBytes(conn, 2));
  };
  return { proc, ask };
}

/** Whether `check()` holds within `ms`, looked at every 20 ms. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

/** How many times `pattern` is in `text`. */
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, "gm"))?.length ?? 0;

// `!` ends a worker's loop with a rejection; `#` throws in a callback while the loop goes on,
// as node:tls once did (a worker ended so held two descriptors of the first thread for good).
for (const [first, error] of [["!", "dying on purpose"], ["#", "dying in a callback"]]) {
  Deno.test(`a worker that dies (${error}) is one line and replaced, and the server goes on`, async () => {
    const { proc, ask } = await crashingWorkers();
    try {
      assert.equal(await ask(first), "", "that worker died");
      await proc.stderr.waitFor(
        new RegExp(`^worker \\d ended: Error: ${error}; starting another$`, "m"),
      );
      await proc.stdout.waitFor(/(\[worker \d\] waiting for connection on [^]*){3}/);
      await sleep(100); // the new worker's listener is in the kernel's group by now
      for (let i = 0; i < 10; i++) assert.match(await ask("?"), /^[12]\n$/);
    } finally {
      proc.kill("SIGTERM");
    }
    const result = await proc.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stderr.trim().split("\n").length,
      1,
      `one line, no stack:\n${result.stderr}`,
    );
    assert.match(result.stdout, /\nserver stopped \(SIGTERM\)\n$/);
  });
}

Deno.test("50 workers that die leave the first thread's descriptors as they were", async () => {
  const { proc, ask } = await crashingWorkers();
  const pid = proc.child.pid;
  const deaths = () => count(proc.stderr.text, /^worker \d ended/);
  const ups = () => count(proc.stdout.text, /^\[worker \d\] waiting for connection on /);
  const kill = async (times: number) => {
    for (let i = 0; i < times; i++) {
      const [died, up] = [deaths(), ups()];
      // (A connection the kernel gave a dead worker's listener as it closed ends unheard.)
      for (let tries = 0; deaths() === died; tries++) {
        assert.ok(tries < 4, `no worker died:\n${proc.stderr.text}`);
        assert.equal(await ask("#"), "", "that worker died");
        await until(() => deaths() > died, 1000);
      }
      assert.ok(await until(() => ups() > up, 5000), "no worker took its place");
      await sleep(50); // the new worker's listener is in the kernel's group by now
    }
  };
  try {
    await kill(5); // warm: the first deaths load what later ones reuse
    await sleep(1500); // the dead ones have stopped
    const before = await openFiles(pid);
    await kill(50);
    await sleep(1500);
    const after = await openFiles(pid);
    assert.ok(after <= before + 2, `descriptors: ${before} before 50 deaths, ${after} after`);
    assert.match(await ask("?"), /^[12]\n$/, "it still serves");
  } finally {
    proc.kill("SIGTERM");
  }
  const result = await proc.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    count(result.stderr, /^worker \d ended: Error: dying in a callback; starting another$/),
    55,
  );
  assert.equal(result.stderr.trim().split("\n").length, 55, "one line a death");
});

Deno.test("a worker that cannot start again is tried again with a delay, and the server goes on", async () => {
  // A copy of the test server whose file a test can take away: a worker loads the script anew.
  const dir = await Deno.makeTempDir({ prefix: "ts-deno-workers-" });
  try {
    const path = `${dir}/crashing_workers.ts`;
    const source = await Deno.readTextFile(`${ROOT}/tests/peers/crashing_workers.ts`);
    await Deno.writeTextFile(path, source.replaceAll(`"../../`, `"${ROOT}/`));
    const { proc, ask } = await crashingWorkers(path, `${ROOT},${dir}`);
    try {
      await Deno.rename(path, `${path}.away`);
      assert.equal(await ask("#"), "", "that worker died");
      await sleep(3500); // tries at 0, 1 and 3 s
      const retries =
        proc.stderr.text.match(/^worker \d could not start: .*; trying again in \d+ s.*$/gm) ?? [];
      assert.ok(retries.length >= 2 && retries.length <= 4, proc.stderr.text);
      assert.match(retries[1], /trying again in 2 s/, "a longer wait each time");
      await Deno.rename(`${path}.away`, path);
      await proc.stdout.waitFor(/(\[worker \d\] waiting for connection on [^]*){3}/, 10_000);
      await sleep(100);
      for (let i = 0; i < 10; i++) assert.match(await ask("?"), /^[12]\n$/);
    } finally {
      proc.kill("SIGTERM");
    }
    const result = await proc.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\nserver stopped \(SIGTERM\)\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
    for (const ours of SERVERS) {
      const result = await runCommand(ours, ["--port", "0", ...args], undefined, { denoFlags });
      assert.equal(result.code, code, `${ours.name} ${args}: ${result.stderr}`);
      assert.match(result.stderr.split("\n")[0], message);
    }
  }
});
