/**
 * Stopping: Ctrl-C and SIGTERM stop servers and clients cleanly, quickly, and the port is free.
 * Each test runs on the lessons and on the production pair, tsd and client.ts, which stands for
 * them with `--proto`; over TLS and Unix sockets, on the production pair alone.
 */

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
  type Transport,
  TRANSPORTS,
  writeAll,
} from "./helpers.ts";
import {
  client,
  type Command,
  lesson,
  PAIRS,
  production,
  runsOver,
  spawnCommand,
  startCommand,
  tsd,
} from "./commands.ts";

/** Each server, where it listens, and whether it is a stream one: the lessons', then tsd's. */
const SERVERS: [server: Command, host: string, tcp: boolean][] = [
  [lesson("tsTserv.ts"), "127.0.0.1", true],
  [lesson("tsTservV6.ts"), "::1", true],
  [lesson("tsTservSS.ts"), "127.0.0.1", true],
  [lesson("tsUserv.ts"), "127.0.0.1", false],
  [lesson("tsUservSS.ts"), "127.0.0.1", false],
  [tsd("tcp"), "127.0.0.1", true],
  [tsd("tcp"), "::1", true],
  [tsd("ss"), "127.0.0.1", true],
  [tsd("udp"), "127.0.0.1", false],
];

for (const [ours, host, tcp] of SERVERS) {
  // A datagram server has no connections to hold: it is stopped with none.
  const all: (Transport | Datagrams)[] = tcp ? TRANSPORTS : DATAGRAMS;
  // A Unix socket has no host: tsd runs over it from 127.0.0.1's row alone.
  const transports = all.filter((transport) =>
    runsOver(ours, transport) && !(transport.name === "unix" && host === "::1")
  );
  for (
    const [transport, signal] of transports.flatMap((t) => [[t, "SIGINT"], [t, "SIGTERM"]] as const)
  ) {
    const { name, server: serving } = transport;
    Deno.test(`${name}: ${ours.name} on ${host} stops on ${signal} within a second with idle clients, and its port is free again`, async () => {
      await using server = await startCommand(ours, serving.args, host, serving);
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
      await using again = await startCommand(ours, [...port, ...serving.args], host, serving);
      assert.equal(again.port, server.port);
      assert.equal((await again.stop()).code, 0);
    });
  }
}

/** The servers of the tests that hold a conversation open: tsTserv, and tsd as it. */
const TCP_SERVERS = PAIRS.tcp.map(({ server }) => server);

for (const ours of TCP_SERVERS) {
  for (const transport of TRANSPORTS.filter((transport) => runsOver(ours, transport))) {
    const { name, server: serving } = transport;
    Deno.test(`${name}: a stop of ${ours.name} lets every reply in flight go out whole, and ends the other waits`, async () => {
      await using server = await startCommand(
        ours,
        [...production(ours, "-q"), ...serving.args],
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
}

/** Starts `ours` with a client that floods it and never reads, so a reply is stuck in flight. */
async function stuckServer(ours: Command, args: string[]) {
  const server = await startCommand(ours, args); // the caller disposes of it
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

for (const ours of TCP_SERVERS) {
  Deno.test(`a stop of ${ours.name} closes a client that never reads its reply once the deadline passes`, async () => {
    const { server: stuck, conn, flooding } = await stuckServer(ours, production(ours, "-q"));
    await using server = stuck;
    const before = performance.now();
    const result = await server.stop("SIGTERM");
    const took = performance.now() - before;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(took >= 900 && took < 2000, `took ${took} ms`);
    conn.close();
    await flooding;
  });

  Deno.test(`a second Ctrl-C makes ${ours.name} exit at once with status 130`, async () => {
    const { server: stuck, conn, flooding } = await stuckServer(ours, production(ours, "-q"));
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
}

// The production server says whom its stop cut off; a lesson's exit just closes them.
for (const ours of TCP_SERVERS.filter((server) => !server.lesson)) {
  Deno.test(`a client that a stop of ${ours.name} cuts off is logged as cut off, not as gone`, async () => {
    const { server: stuck, conn, flooding } = await stuckServer(ours, []);
    await using server = stuck;
    const result = await server.stop("SIGTERM");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\.\.\.127\.0\.0\.1:\d+ cut off: the server is stopping$/m);
    assert.doesNotMatch(result.stdout, /went away/);
    conn.close();
    await flooding;
  });
}

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

/** The stream clients, and whether each connects for each line (as the book's SocketServer one). */
const STREAM_CLIENTS: [client: Command, perLine: boolean][] = [
  [lesson("tsTclnt.ts"), false],
  [lesson("tsTclntSS.ts"), true],
  [client("tcp"), false],
  [client("ss"), true],
];

for (const [theirs, perLine] of STREAM_CLIENTS) {
  Deno.test(`${theirs.name} stops at the first Ctrl-C while its connect waits`, async () => {
    const busy = await busyServer();
    try {
      const client = spawnCommand(theirs, ["--host", "127.0.0.1", "-p", String(busy.port)], {
        stdin: true,
      });
      if (perLine) await client.write("hello\n", false); // it connects per line
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

// Each client with its server: the lessons', then client.ts with tsd, for each protocol.
for (const { server: ours, client: theirs } of Object.values(PAIRS).flat()) {
  Deno.test(`${theirs.name} stops cleanly on Ctrl-C while it waits for input (to ${ours.name})`, async () => {
    await using server = await startCommand(ours);
    const client = spawnCommand(theirs, ["-p", String(server.port)], { stdin: true });
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
