/**
 * Fuzzing: random and malformed command lines, random payloads cut at random points. Whatever
 * comes in, no script crashes or prints a stack trace, exit codes are right, and every byte
 * comes back unchanged. Each test draws from a seeded generator and names its seed on failure;
 * set FUZZ_SEED to run the same cases again.
 */

import assert from "node:assert/strict";
import { UsageError } from "../lib/command.ts";
import { isWholeReply } from "../lib/reply.ts";
import { ctime, STAMP_LENGTH } from "../lib/timestamp.ts";
import { COMMANDS, readOptions } from "../tools/scripts.ts";
import { random } from "./random.ts";
import {
  assertReplyTo,
  concat,
  connect,
  readBytes,
  readToEnd,
  runScript,
  sleep,
  splitStamp,
  startServer,
  udpExchange,
  unstamped,
  writeAll,
} from "./helpers.ts";
import { runClient, serverSetups, startTsd } from "./commands.ts";

const SCRIPTS = Object.keys(COMMANDS);
const SERVERS = new Set([
  "tsTserv.ts",
  "tsTservV6.ts",
  "tsTservSS.ts",
  "tsUserv.ts",
  "tsUservSS.ts",
  "tsd.ts",
]);

const NEWLINE = 0x0a;
const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);

Deno.test("every command line reads any argument list without a crash: options, help or a usage error", async () => {
  const { seed, next, pick } = random();
  const words = [
    "-h",
    "--help",
    "-p",
    "--port",
    "--host",
    "--bufsiz",
    "-q",
    "--quiet",
    "--timeout",
    "--idle-timeout",
    "--max-line",
    "--line-timeout",
    "--proto",
    "tcp",
    "udp",
    "ss",
    "-c",
    "-d",
    "--warmup",
    "--size",
    "--json",
    "-",
    "--",
    "---",
    "-pq",
    "-qp",
    "--port=",
    "--host=",
    "0",
    "1",
    "-1",
    "65535",
    "65536",
    "99999999",
    "1e3",
    "0x10",
    "0.5",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "",
    " ",
    "::1",
    "[::1]",
    "[",
    "localhost",
    "\0",
    "é",
    "--=",
    "=",
  ];
  const log = console.log;
  console.log = () => {}; // --help prints
  try {
    for (let i = 0; i < 5000; i++) {
      const args = Array.from(
        { length: Math.floor(next() * 6) },
        () =>
          next() < 0.1
            ? String.fromCharCode(...Array.from({ length: 4 }, () => next() * 0x250))
            : pick(words),
      );
      const script = pick(SCRIPTS);
      let options: Record<string, unknown> | undefined;
      try {
        options = await readOptions(script, args);
      } catch (err) {
        assert.ok(err instanceof UsageError, `seed ${seed}: ${JSON.stringify(args)}: ${err}`);
        assert.ok(!err.message.includes("\n    at "), "no stack in the message");
        continue;
      }
      if (options === undefined) continue; // --help
      const context = `seed ${seed}: ${script} ${JSON.stringify(args)}`;
      const { host, port, bufsiz, duration, warmup, conns, size } = options as Record<
        string,
        never
      >;
      const minPort = SERVERS.has(script) ? 0 : 1;
      assert.ok(Number.isInteger(port) && port >= minPort && port <= 65535, context);
      assert.ok((host as string).length > 0, context);
      if (bufsiz !== undefined) assert.ok(Number.isInteger(bufsiz) && bufsiz >= 1, context);
      for (const key of ["timeout", "idleTimeout", "lineTimeout"]) {
        const value = options[key];
        if (value !== undefined) {
          assert.ok(Number.isFinite(value) && (value as number) >= 0, context);
        }
      }
      if (script !== "tsLoad.ts") continue;
      // The load generator's bounds: it must always end, and never open more than it may.
      assert.ok(duration > 0 && duration <= 3600 && warmup <= 3600, context);
      assert.ok(Number.isInteger(conns) && conns >= 1 && conns <= 10_000, context);
      assert.ok(Number.isInteger(size) && size >= 1 && size <= 65_507, context);
    }
  } finally {
    console.log = log;
  }
});

Deno.test("every script rejects random malformed command lines with a usage error, exit 2", async () => {
  const { seed, pick, below } = random();
  const junk = [
    ...["--port", "-p", "--bufsiz", "--timeout", "--idle-timeout", "--max-line", "--host"],
    ...["-c", "--conns", "-d", "--size", "--proto", "--warmup"],
  ];
  const bad = ["", "x", "-1", "65536", "1e3", "0x10", "--", "é", "\u0001", " 1"];
  for (const script of SCRIPTS) {
    for (let i = 0; i < 2; i++) {
      // First an unknown flag or a stray word (where no flag can take it for its value), so
      // that no case is valid and starts a server; then anything.
      const args = Array.from({ length: below(4) }, () => pick([pick(junk), pick(bad)]));
      args.unshift(pick(["--no-such-flag", "stray", "-z", "---x"]));
      const result = await runScript(script, args);
      const context = `seed ${seed}: ${script} ${JSON.stringify(args)}\n${result.stderr}`;
      assert.equal(result.code, 2, context);
      assert.equal(result.stdout, "", context);
      assert.match(result.stderr, /^error: .+\nRun 'deno run -N.* --help' for usage\.\n$/, context);
    }
  }
});

for (const host of ["127.0.0.1", "::1"]) {
  Deno.test(`tsd --proto tcp on ${host} returns random bytes cut at random points unchanged`, async () => {
    const { seed, below, bytes, split } = random();
    await using server = await startTsd("tcp", ["--bufsiz", "512"], host);
    for (let round = 0; round < 20; round++) {
      using conn = await connect(server.port, host);
      const payload = bytes(below(4000));
      for (const piece of split(payload)) {
        await writeAll(conn, piece);
        if (below(3) === 0) await sleep(below(5));
      }
      await conn.closeWrite();
      const reply = await readToEnd(conn);
      assertReplyTo(reply, payload, `seed ${seed}, round ${round}`);
    }
  });
}

Deno.test("tsd --proto ss returns a random line cut at random points unchanged, its newline included", async () => {
  const { seed, below, bytes, split } = random();
  await using server = await startTsd("ss", ["-q", "--bufsiz", "100"]);
  for (let round = 0; round < 30; round++) {
    using conn = await connect(server.port);
    const line = concat(bytes(below(3000), NEWLINE), Uint8Array.of(NEWLINE));
    for (const piece of split(line)) await writeAll(conn, piece);
    const reply = await readToEnd(conn);
    assert.deepEqual(splitStamp(reply), line, `seed ${seed}, round ${round}`);
  }
});

Deno.test("tsd --proto udp returns random datagrams unchanged, cut to --bufsiz", async () => {
  const { seed, below, bytes } = random();
  await using server = await startTsd("udp", ["-q", "--bufsiz", "700"]);
  for (let round = 0; round < 50; round++) {
    const datagram = bytes(below(1400));
    const reply = await udpExchange(server.port, datagram);
    assert.deepEqual(splitStamp(reply), datagram.subarray(0, 700), `seed ${seed}, round ${round}`);
  }
});

// On IPv4 and IPv6: tsd over every transport, and tsTserv and tsTservV6 on plain TCP.
for (const [lesson, host] of [["tsTserv.ts", "127.0.0.1"], ["tsTservV6.ts", "::1"]]) {
  for (const { name, transport, start } of serverSetups("tcp", lesson)) {
    Deno.test(`${name} on ${host} returns every byte value unchanged, NUL and invalid UTF-8 included`, async () => {
      await using server = await start([], host);
      using conn = await transport.connect(server.port, host);
      await writeAll(conn, everyByte);
      assert.deepEqual(splitStamp(await readBytes(conn, STAMP_LENGTH + 256)), everyByte);
    });
  }
}

for (const { name, transport, start } of serverSetups("ss", "tsTservSS.ts")) {
  Deno.test(`${name} returns every byte value unchanged, with the newline that ends the line`, async () => {
    await using server = await start();
    using conn = await transport.connect(server.port);
    const line = concat(everyByte.filter((byte) => byte !== NEWLINE), Uint8Array.of(NEWLINE));
    await writeAll(conn, line);
    assert.deepEqual(splitStamp(await readToEnd(conn)), line);
  });
}

Deno.test("tsUserv returns every byte value unchanged", async () => {
  await using server = await startServer("tsUserv.ts");
  assert.deepEqual(splitStamp(await udpExchange(server.port, everyByte)), everyByte);
});

const CRLF = Uint8Array.of(13, 10);

/** Python's `bytes.rstrip()`, for ASCII whitespace: how tsTclntSS prints a reply. */
function trimEnd(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && [9, 10, 11, 12, 13, 28, 29, 30, 31, 32].includes(bytes[end - 1])) end--;
  return bytes.subarray(0, end);
}

/** Each client, the server it talks to, and what it prints of the reply to a line it sent. */
const CLIENTS = [
  ["tsTclnt.ts", "tsTserv.ts", (reply: Uint8Array) => reply],
  ["tsTclntSS.ts", "tsTservSS.ts", (reply: Uint8Array) => trimEnd(concat(reply, CRLF))],
  ["tsUclnt.ts", "tsUserv.ts", (reply: Uint8Array) => reply],
] as const;

const latin1 = (bytes: Uint8Array) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");
const SOME_STAMP = new TextEncoder().encode("[Thu Jun  4 19:56:18 2020] ");

for (const [client, server, printed] of CLIENTS) {
  Deno.test(`${client} pipes random bytes through ${server} and prints each reply, exit 0`, async () => {
    const { seed, below, bytes } = random();
    await using running = await startServer(server);
    for (let round = 0; round < 3; round++) {
      // Lines of random bytes (no newline inside, none empty: that would end the session), the
      // last one without its newline: it is still sent, and its reply still printed.
      const lines = Array.from({ length: 1 + below(5) }, () => bytes(1 + below(300), NEWLINE));
      const input = lines.map((line) => concat(line, Uint8Array.of(NEWLINE))).reduce(concat);
      const expected = lines.map((line) => `> ${latin1(printed(concat(SOME_STAMP, line)))}\n`);
      const args = ["--host", "127.0.0.1", "--port", String(running.port)];
      const result = await runScript(client, args, input.subarray(0, -1));
      const context = `seed ${seed}, round ${round}: ${result.stderr}`;
      assert.equal(result.code, 0, context);
      assert.equal(result.stderr, "", context);
      assert.equal(
        unstamped(latin1(result.stdoutBytes)),
        unstamped(expected.join("") + "> "),
        context,
      );
    }
  });
}

/**
 * A proxy on a free port to `port`: what the server sends goes on to the client in random
 * pieces, a few milliseconds apart, as a slow network would deliver it.
 */
function splittingProxy(port: number, below: (n: number) => number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const client of listener) {
      const server = await connect(port);
      client.readable.pipeTo(server.writable).catch(() => {});
      (async () => {
        for await (const chunk of server.readable) {
          for (let at = 0; at < chunk.length;) {
            const piece = chunk.subarray(at, at + 1 + below(40));
            await writeAll(client, piece);
            at += piece.length;
            if (below(4) === 0) await sleep(below(3));
          }
        }
        client.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await serving;
    },
  };
}

// The production client waits out a reply that a stamp in the line could make look whole; the
// lesson takes the first reading that is whole (its header says so).
Deno.test("client.ts prints each reply whole when lines hold stamps, whatever tsd's reads and the reply's splits", async () => {
  const { seed, below, bytes, pick } = random();
  for (let round = 0; round < 4; round++) {
    const bufsiz = 1 + below(40); // tsd's --bufsiz: the lessons leave it out
    await using server = await startTsd("tcp", ["-q", "--bufsiz", String(bufsiz)]);
    await using proxy = splittingProxy(server.port, below);
    // The stamp the server is writing now, others, and pieces of one, among random bytes.
    const now = new TextEncoder().encode(`[${ctime()}] `);
    const texts: Uint8Array[] = [
      now,
      now,
      SOME_STAMP,
      now.subarray(0, 1 + below(26)),
      Uint8Array.of(0x5b),
    ];
    const lines = Array.from({ length: 6 }, () => {
      const parts = Array.from(
        { length: 1 + below(5) },
        () => below(2) === 0 ? pick(texts) : bytes(1 + below(30), NEWLINE),
      );
      return parts.reduce(concat);
    });
    const input = lines.map((line) => concat(line, Uint8Array.of(NEWLINE))).reduce(concat);
    const result = await runClient("tcp", ["-p", String(proxy.port)], input);
    const context = `seed ${seed}, round ${round}, --bufsiz ${bufsiz}: ${result.stderr}`;
    assert.equal(result.code, 0, context);
    const printed = latin1(result.stdoutBytes).split("\n");
    assert.equal(printed.length, lines.length + 1, context);
    printed.forEach((text, i) => {
      assert.ok(text.startsWith("> "), context);
      if (i === lines.length) return;
      const reply = Uint8Array.from(text.slice(2), (char) => char.charCodeAt(0));
      assert.ok(isWholeReply(reply, lines[i]), `${context}: line ${i}: ${text}`);
    });
  }
});

Deno.test("tsd --proto tcp --proxy-protocol takes random malformed headers, cut at random points, without a crash", async () => {
  const rng = random();
  await using server = await startTsd("tcp", ["--proxy-protocol", "-q"]);
  const good: Uint8Array[] = [
    new TextEncoder().encode("PROXY TCP4 203.0.113.7 127.0.0.1 51034 21567\r\n"),
    new TextEncoder().encode("PROXY TCP6 2001:db8::1 ::1 1 2\r\n"),
    // v2, PROXY over TCP/IPv4: 192.0.2.1:8080 to 127.0.0.1:21415
    Uint8Array.of(
      ...[13, 10, 13, 10, 0, 13, 10, 0x51, 0x55, 0x49, 0x54, 10, 0x21, 0x11, 0, 12],
      ...[192, 0, 2, 1, 127, 0, 0, 1, 0x1f, 0x90, 0x53, 0xa7],
    ),
  ];
  let answered = 0;
  for (let i = 0; i < 60; i++) {
    // A good header, mutated: bytes changed, dropped or added; then a payload.
    const header = Array.from(rng.pick(good));
    for (let edits = rng.below(4); edits > 0; edits--) {
      const at = rng.below(header.length);
      const kind = rng.below(3);
      if (kind === 0) header[at] = rng.below(256);
      else if (kind === 1) header.splice(at, 1);
      else header.splice(at, 0, rng.below(256));
    }
    using conn = await connect(server.port);
    try {
      for (const part of rng.split(concat(Uint8Array.from(header), Uint8Array.of(0x68, 0x69)))) {
        await writeAll(conn, part);
      }
      await conn.closeWrite(); // done: a header still short is then refused at once
      const reply = await readToEnd(conn, 3000).catch(() => new Uint8Array(0));
      if (reply.length > 0) answered++;
    } catch { /* closed on us as we wrote: refused */ }
  }
  // Whatever came, it still serves a right header.
  using conn = await connect(server.port);
  await writeAll(conn, concat(good[0], Uint8Array.of(0x68, 0x69)));
  assert.equal(new TextDecoder().decode(splitStamp(await readBytes(conn, STAMP_LENGTH + 2))), "hi");
  const { code, stderr } = await server.stop();
  assert.equal(code, 0, `seed ${rng.seed}`);
  assert.doesNotMatch(stderr, /unexpected|Error:|at .*\.ts:\d+/, `seed ${rng.seed}: ${stderr}`);
  console.log(`seed ${rng.seed}: ${answered} of 60 mutated headers still served`);
});
