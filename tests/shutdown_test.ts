/** Stopping: Ctrl-C and SIGTERM stop servers and clients cleanly, quickly, and the port is free. */

import assert from "node:assert/strict";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import {
  connect,
  DATAGRAMS,
  type Datagrams,
  encoder,
  Proc,
  readBytes,
  sleep,
  spawnScript,
  startServer,
  type Transport,
  TRANSPORTS,
  writeAll,
} from "./helpers.ts";

const SERVERS: [script: string, host: string, tcp: boolean][] = [
  ["tsTserv.ts", "127.0.0.1", true],
  ["tsTservV6.ts", "::1", true],
  ["tsTservSS.ts", "127.0.0.1", true],
  ["tsUserv.ts", "127.0.0.1", false],
  ["tsUservSS.ts", "127.0.0.1", false],
];

for (const [script, host, tcp] of SERVERS) {
  // A datagram server has no connections to hold: it is stopped with none.
  const transports: (Transport | Datagrams)[] = tcp ? TRANSPORTS : DATAGRAMS;
  for (
    const [transport, signal] of transports.flatMap((t) => [[t, "SIGINT"], [t, "SIGTERM"]] as const)
  ) {
    const { name, server: serving } = transport;
    Deno.test(`${name}: ${script} stops on ${signal} within a second with idle clients, and its port is free again`, async () => {
      await using server = await startServer(script, serving.args, host, serving);
      const idle = "connect" in transport
        ? await Promise.all([1, 2, 3, 4, 5].map(() => transport.connect(server.port, host)))
        : [];
      // Let the server accept them all before the signal.
      await sleep(100);

      const before = performance.now();
      const result = await server.stop(signal);
      const took = performance.now() - before;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(took < 1000, `took ${took} ms`);
      assert.match(result.stdout, new RegExp(`\\nserver stopped \\(${signal}\\)\\n$`));
      assert.equal(result.stderr, "");
      for (const conn of idle) {
        assert.equal(
          await conn.read(new Uint8Array(8)),
          null,
          "an idle client sees the connection end",
        );
        conn.close();
      }

      // SO_REUSEADDR: a restart can bind the same port at once, TIME_WAIT or not.
      const port = ["--port", String(server.port)];
      await using again = await startServer(script, [...port, ...serving.args], host, serving);
      assert.equal(again.port, server.port);
      assert.equal((await again.stop()).code, 0);
    });
  }
}

for (const transport of TRANSPORTS) {
  const { name, server: serving } = transport;
  Deno.test(`${name}: a stop lets every reply in flight go out whole, and ends the other waits`, async () => {
    await using server = await startServer(
      "tsTserv.ts",
      ["-q", ...serving.args],
      "127.0.0.1",
      serving,
    );
    const message = encoder.encode("m".repeat(500));
    let stopping = false;
    const clients = Array.from({ length: 8 }, async () => {
      using conn = await transport.connect(server.port);
      let exchanges = 0;
      while (true) {
        try {
          await writeAll(conn, message);
        } catch {
          return exchanges; // the server had closed: nothing was owed
        }
        const reply = await readBytes(conn, STAMP_LENGTH + message.length);
        // Either the whole reply came, or none of it (the server stopped before reading).
        if (reply.length === 0) return exchanges;
        assert.equal(reply.length, STAMP_LENGTH + message.length, "no partial reply");
        exchanges++;
        assert.ok(exchanges < 100_000 || stopping);
      }
    });
    await sleep(300);
    stopping = true;
    const before = performance.now();
    const result = await server.stop("SIGTERM");
    assert.equal(result.code, 0, result.stderr);
    assert.ok(performance.now() - before < 1000);
    const counts = await Promise.all(clients);
    assert.ok(counts.every((count) => count > 0), `every client was served: ${counts}`);
  });
}

/** Starts tsTserv with a client that floods it and never reads, so a reply is stuck in flight. */
async function stuckServer(args = ["-q"]) {
  const server = await startServer("tsTserv.ts", args); // the caller disposes of it
  const conn = await connect(server.port);
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const flooding = (async () => {
    try {
      for (let i = 0; i < 512; i++) await writeAll(conn, chunk); // 32 MiB at most
    } catch {
      // the server closed the connection
    }
  })();
  await sleep(300);
  return { server, conn, flooding };
}

Deno.test("a stop closes a client that never reads its reply once the deadline passes", async () => {
  const { server: stuck, conn, flooding } = await stuckServer();
  await using server = stuck;
  const before = performance.now();
  const result = await server.stop("SIGTERM");
  const took = performance.now() - before;
  assert.equal(result.code, 0, result.stderr);
  assert.ok(took >= 900 && took < 2000, `took ${took} ms`);
  conn.close();
  await flooding;
});

Deno.test("a client that a stop cuts off is logged as cut off, not as gone", async () => {
  const { server: stuck, conn, flooding } = await stuckServer([]);
  await using server = stuck;
  const result = await server.stop("SIGTERM");
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\.\.\.127\.0\.0\.1:\d+ cut off: the server is stopping$/m);
  assert.doesNotMatch(result.stdout, /went away/);
  conn.close();
  await flooding;
});

/** A server on loopback whose backlog is full, so that a new connect waits. */
async function busyServer(): Promise<{ port: number; proc: Proc }> {
  const script = [
    "import socket, sys, time",
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    "held = []",
    "for i in range(8):",
    "    c = socket.socket(); c.setblocking(False)",
    "    try: c.connect(s.getsockname())",
    "    except BlockingIOError: pass",
    "    held.append(c)",
    "print(s.getsockname()[1], flush=True); sys.stdin.read()",
  ].join("\n");
  const proc = new Proc("python3", ["-c", script], { stdin: true });
  const [, port] = await proc.stdout.waitFor(/^(\d+)$/m);
  return { port: Number(port), proc };
}

for (const script of ["tsTclnt.ts", "tsTclntSS.ts"]) {
  Deno.test(`${script} stops at the first Ctrl-C while its connect waits`, async () => {
    const busy = await busyServer();
    try {
      const client = spawnScript(script, ["--host", "127.0.0.1", "-p", String(busy.port)], {
        stdin: true,
      });
      if (script === "tsTclntSS.ts") await client.write("hello\n", false); // it connects per line
      await sleep(500);
      const before = performance.now();
      client.kill("SIGINT");
      const result = await client.finish(5000);
      assert.ok(performance.now() - before < 1000, "at once");
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
    } finally {
      await busy.proc.write("");
      await busy.proc.finish();
    }
  });
}

Deno.test("a second Ctrl-C exits at once with status 130", async () => {
  const { server: stuck, conn, flooding } = await stuckServer();
  await using server = stuck;
  server.proc.kill("SIGINT");
  await sleep(100);
  const before = performance.now();
  server.proc.kill("SIGINT");
  const result = await server.proc.finish();
  assert.equal(result.code, 130);
  assert.ok(performance.now() - before < 500);
  conn.close();
  await flooding;
});

const CLIENTS: [client: string, server: string][] = [
  ["tsTclnt.ts", "tsTserv.ts"],
  ["tsTclntSS.ts", "tsTservSS.ts"],
  ["tsUclnt.ts", "tsUserv.ts"],
];

for (const [script, serverScript] of CLIENTS) {
  Deno.test(`${script} stops cleanly on Ctrl-C while it waits for input`, async () => {
    await using server = await startServer(serverScript);
    const client = spawnScript(script, ["-p", String(server.port)], { stdin: true });
    await client.write("first\n", false); // and keep standard input open
    await client.stdout.waitFor(/\] first\n> $/);
    const before = performance.now();
    client.kill("SIGINT");
    const result = await client.finish();
    assert.ok(performance.now() - before < 1000);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    await server.stop();
  });
}
