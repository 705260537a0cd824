/**
 * Hardening: bad peers, floods and faults. One bad client never hurts the others, memory stays
 * bounded whatever a client sends, and a stop loses no reply that was owed. Every wait and every
 * load loop here is bounded in count and in time. A test of a limit or a timeout runs tsd, which
 * has their flags; one of what a lesson does without them runs the lesson too, on plain TCP.
 */

import assert from "node:assert/strict";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import {
  connect,
  encoder,
  memoryKiB,
  Proc,
  readBytes,
  readToEnd,
  runScript,
  type Server,
  sleep,
  spawnScript,
  splitStamp,
  startServer,
  TRANSPORTS,
  udpExchange,
  writeAll,
} from "./helpers.ts";
import { serverSetups, startTsd } from "./commands.ts";

const decoder = new TextDecoder();
const RUDE = new URL("./peers/rude_clients.py", import.meta.url).pathname;
const MiB = 1 << 20;
/** How much a server's memory may grow under abuse: a few MiB, and far below any flood. */
const MEMORY_GROWTH_KIB = 8 * 1024;

/** One request and its whole reply, as a well-behaved client makes them; the reply's payload. */
async function ask(port: number, line = "still there?\n", transport = TRANSPORTS[0]) {
  using conn = await transport.connect(port);
  const payload = encoder.encode(line);
  await writeAll(conn, payload);
  return decoder.decode(splitStamp(await readBytes(conn, STAMP_LENGTH + payload.length)));
}

/**
 * Serves a thousand requests, so that the server's heap has grown to its working size: a
 * server's memory grows by some MiB at its first load, whatever the load, and stays there.
 */
async function warmUp(port: number, transport = TRANSPORTS[0]): Promise<void> {
  for (let i = 0; i < 1000; i += 10) {
    await Promise.all(Array.from({ length: 10 }, async (_, j) => {
      const line = `warm-up ${i + j}\n`;
      assert.equal(await ask(port, line, transport), line);
    }));
  }
}

/** Runs one of the rude clients (see `peers/rude_clients.py`) to the end. */
async function rude(mode: string, port: number, count: number): Promise<void> {
  const result = await new Proc("python3", [RUDE, mode, String(port), String(count)]).finish(
    30_000,
  );
  assert.equal(result.code, 0, result.stderr);
}

/** Whether stderr shows a bug: an unexpected error or a stack trace. */
function assertNoBug(stderr: string): void {
  assert.doesNotMatch(stderr, /unexpected|\n\s+at /, stderr);
}

/** Streams up to `limit` bytes at `conn` without reading; resolves with how it ended. */
function flood(conn: Deno.Conn, limit: number) {
  const chunk = new Uint8Array(MiB).fill(0x61); // "a", and never a newline
  const state = { sent: 0, ended: "" };
  const done = (async () => {
    try {
      while (state.sent < limit) state.sent += await conn.write(chunk);
      state.ended = "sent it all";
    } catch (err) {
      state.ended = (err as Error).name;
    }
  })();
  return { state, done };
}

Deno.test("tsTservSS closes a client that streams 64 MiB without a newline; memory stays flat", async () => {
  await using server = await startServer("tsTservSS.ts");
  await warmUp(server.port);
  const before = await memoryKiB(server.proc.child.pid, "VmRSS");
  using flooder = await connect(server.port);
  const { state, done } = flood(flooder, 64 * MiB);
  assert.equal(await ask(server.port), "still there?\n", "others are served meanwhile");
  await Promise.race([done, sleep(10_000)]);
  assert.match(state.ended, /ConnectionReset|BrokenPipe/, "the flooder was cut off");
  assert.ok(state.sent < 64 * MiB);
  const grew = (await memoryKiB(server.proc.child.pid, "VmHWM")) - before;
  assert.ok(grew < MEMORY_GROWTH_KIB, `memory grew by ${grew} KiB`);
  assert.equal(await ask(server.port), "still there?\n");
  const result = await server.stop();
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^\.\.\.closing 127\.0\.0\.1:\d+: line longer than 65536 bytes$/m);
  assertNoBug(result.stderr);
});

Deno.test("tsd --proto ss --line-budget bounds what all unfinished lines hold: it cuts the biggest, and gives memory back", async () => {
  // Each client sends just under --max-line without a newline: alone, each is within bounds.
  const clients = 600;
  const partial = new Uint8Array(65_000).fill(0x61);
  await using server = await startTsd("ss", ["-q", "--line-budget", "4"]);
  await warmUp(server.port);
  // As many connections, each with a short partial line, first: the heap's working size.
  const warming = await Promise.all(Array.from({ length: clients }, () => connect(server.port)));
  await Promise.all(warming.map((conn) => writeAll(conn, partial.subarray(0, 500))));
  await sleep(300);
  for (const conn of warming) conn.close();
  await sleep(300);
  const pid = server.proc.child.pid;
  const before = await memoryKiB(pid, "VmRSS");
  const conns = await Promise.all(Array.from({ length: clients }, () => connect(server.port)));
  const sent = await Promise.all(conns.map(async (conn) => {
    await writeAll(conn, partial).catch(() => {});
    return conn;
  }));
  await sleep(1000); // every byte read by the server, or the connection cut
  const peak = (await memoryKiB(pid, "VmHWM")) - before;
  assert.equal(await ask(server.port), "still there?\n", "others are served meanwhile");
  for (const conn of sent) conn.close();
  await sleep(1000);
  const after = (await memoryKiB(pid, "VmRSS")) - before;
  const result = await server.stop();
  const figures = `peak +${peak} KiB, after they left +${after} KiB`;
  console.log(`  ${clients} clients x 65,000 bytes, --line-budget 4: ${figures}`);
  // Without the budget: +80 MiB at the peak, +125 MiB after they left.
  assert.ok(peak < 32 * 1024, figures);
  assert.ok(after < 32 * 1024, figures);
  assert.match(result.stderr, /^\.\.\.unfinished lines passed their budget \(4 MiB\): closed \d+/m);
  assertNoBug(result.stderr);
});

Deno.test("tsd --proto ss --line-budget bounds RSS while lines are held, and gives it back to the system after", async () => {
  // 2,000 clients each hold 60 kB without a newline: 252 fit a 16 MiB budget, the rest are cut.
  const clients = 2_000;
  const budgetMiB = 16;
  const perConnKiB = 40; // measured: 32-43 KiB a connection (V8 heap, Deno), beyond its line
  const partial = new Uint8Array(60_000).fill(0x61);
  await using server = await startTsd("ss", ["-q", "--line-budget", String(budgetMiB)]);
  await warmUp(server.port);
  const pid = server.proc.child.pid;
  const idle = await memoryKiB(pid, "VmRSS");
  const conns = await Promise.all(Array.from({ length: clients }, () => connect(server.port)));
  await Promise.all(conns.map((conn) => writeAll(conn, partial).catch(() => {})));
  let held = 0;
  for (let i = 0; i < 10; i++) {
    await sleep(100);
    held = Math.max(held, (await memoryKiB(pid, "VmRSS")) - idle);
  }
  for (const conn of conns) conn.close();
  // Back within 40 MiB of idle, once the server is quiet (server/heap.ts: a look every 5 s).
  const bound = 40 * 1024;
  let after = Infinity;
  for (const start = Date.now(); after >= bound && Date.now() - start < 20_000;) {
    await sleep(500);
    after = (await memoryKiB(pid, "VmRSS")) - idle;
  }
  assert.equal(await ask(server.port), "still there?\n");
  const result = await server.stop();
  const figures = `held +${held} KiB, after they left +${after} KiB`;
  console.log(`  ${clients} clients x 60,000 bytes, --line-budget ${budgetMiB}: ${figures}`);
  // Before: held +80 MiB, after +79 MiB for as long as the server was idle (V8 collected its
  // old generation only near a limit set by the heap's size with the clients there).
  const margin = 8 * 1024;
  assert.ok(held < budgetMiB * 1024 + clients * perConnKiB + margin, figures);
  assert.ok(after < bound, figures);
  assertNoBug(result.stderr);
});

for (const { name, transport, quiet, start } of serverSetups("tcp", "tsTserv.ts")) {
  Deno.test(`${name} holds back a client that sends without reading; memory stays flat`, async () => {
    await using server = await start(quiet);
    await warmUp(server.port, transport);
    // Two floods first, then the one measured: the first grow the heap, once, to what serving a
    // flood takes (over TLS, node:tls's buffers: some MiB); what must not grow is the rest. One
    // was not always enough: over TLS, V8 then went on growing it in the measured flood.
    for (let i = 0; i < 2; i++) {
      const first = await transport.connect(server.port);
      const warming = flood(first, 64 * MiB);
      await sleep(1500);
      first.close();
      await warming.done;
    }
    const before = await memoryKiB(server.proc.child.pid, "VmRSS");
    const flooder = await transport.connect(server.port);
    const { state, done } = flood(flooder, 64 * MiB);
    await sleep(1500); // long enough to fill every buffer on the way
    const again = await ask(server.port, undefined, transport);
    assert.equal(again, "still there?\n", "others are served meanwhile");
    assert.equal(state.ended, "", `the flood is held back by TCP, at ${state.sent} bytes`);
    const grew = (await memoryKiB(server.proc.child.pid, "VmHWM")) - before;
    assert.ok(grew < MEMORY_GROWTH_KIB, `memory grew by ${grew} KiB`);
    flooder.close();
    await done;
    assert.equal(await ask(server.port, undefined, transport), "still there?\n");
    const result = await server.stop();
    assert.equal(result.code, 0);
    assertNoBug(result.stderr);
  });
}

for (const transport of TRANSPORTS) {
  const { name, server: serving } = transport;
  Deno.test(`${name}: tsd --proto tcp --idle-timeout closes a silent connection, and keeps a talking one`, async () => {
    const args = ["--idle-timeout", "0.5", ...serving.args];
    await using server = await startTsd("tcp", args, "127.0.0.1", serving);
    using silent = await transport.connect(server.port);
    using talking = await transport.connect(server.port);
    const started = performance.now();
    const silentEnded = readToEnd(silent, 5000).then(() => performance.now() - started);
    const buffer = new Uint8Array(64);
    while (performance.now() - started < 1500) {
      await writeAll(talking, encoder.encode("tick"));
      assert.equal(await talking.read(buffer), STAMP_LENGTH + 4);
      await sleep(150);
    }
    const took = await silentEnded;
    assert.ok(took >= 450 && took < 1500, `closed after ${took} ms`);
    const result = await server.stop();
    const closing = `^\\.\\.\\.closing ${transport.clientLog}: idle for 0\\.5 s$`;
    assert.match(result.stdout, new RegExp(closing, "m"));
    assert.equal(result.stdout.match(/closing/g)?.length, 1, result.stdout);
  });
}

Deno.test("tsd --proto ss --line-timeout closes a client that trickles its line, --idle-timeout a silent one", async () => {
  await using server = await startTsd("ss", ["--line-timeout", "0.5", "--idle-timeout", "0.8"]);
  using trickler = await connect(server.port);
  using silent = await connect(server.port);
  const started = performance.now();
  const silentEnded = readToEnd(silent, 5000).then(() => performance.now() - started);
  let cutAfter = 0;
  for (let i = 0; i < 40 && !cutAfter; i++) {
    // A byte every 100 ms: never idle, but the line never ends.
    await writeAll(trickler, encoder.encode("x")).catch(() =>
      cutAfter = performance.now() - started
    );
    await sleep(100);
  }
  const reply = await readToEnd(trickler, 3000);
  cutAfter ||= performance.now() - started;
  assert.equal(reply.length, 0, "no reply: no line was read");
  assert.ok(cutAfter >= 450 && cutAfter < 2000, `trickler cut after ${cutAfter} ms`);
  const silentTook = await silentEnded;
  assert.ok(silentTook >= 750 && silentTook < 2500, `silent one closed after ${silentTook} ms`);
  assert.equal(await ask(server.port), "still there?\n");
  const { stdout } = await server.stop();
  assert.match(stdout, /^\.\.\.closing 127\.0\.0\.1:\d+: no whole line within 0\.5 s$/m);
  assert.match(stdout, /^\.\.\.closing 127\.0\.0\.1:\d+: idle for 0\.8 s$/m);
});

for (const proto of ["tcp", "ss"] as const) {
  Deno.test(`tsd --proto ${proto} shrugs off storms of resets and of connect-and-leave, and serves on`, async () => {
    await using server = await startTsd(proto, ["-q"]);
    const storms = Promise.all([
      rude("reset", server.port, 300),
      rude("leave", server.port, 300),
    ]);
    let served = 0;
    let stormsOver = false;
    storms.finally(() => stormsOver = true);
    while (!stormsOver && served < 500) {
      assert.equal(await ask(server.port), "still there?\n");
      served++;
    }
    await storms;
    assert.ok(served > 0);
    assert.equal(await ask(server.port, "after the storm\n"), "after the storm\n");
    const result = await server.stop();
    assert.equal(result.code, 0);
    assert.equal(result.stderr, "", "nothing worth a log line, even a quiet one");
  });
}

for (const { name, transport, start } of serverSetups("tcp", "tsTserv.ts")) {
  Deno.test(`${name} answers a client that half-closes after sending, then ends the connection`, async () => {
    await using server = await start();
    using conn = await transport.connect(server.port);
    await writeAll(conn, encoder.encode("last words"));
    await conn.closeWrite();
    const reply = await readToEnd(conn);
    assert.equal(decoder.decode(splitStamp(reply)), "last words", "the reply, then EOF");
  });
}

Deno.test("tsd --proto tcp out of file descriptors says so, once a spell, and serves again once they free up", async () => {
  await using server = await startTsd("tcp", ["-q"], "127.0.0.1", { maxFiles: 48 });
  const clients = await Promise.all(Array.from({ length: 48 }, () => connect(server.port)));
  await server.proc.stderr.waitFor(/accept failed: Too many open files/, 5000);
  for (const client of clients) client.close();
  assert.equal(await ask(server.port), "still there?\n"); // what shows that it is over
  await server.proc.stderr.waitFor(/accepting connections again/, 5000);
  const result = await server.stop();
  assert.equal(result.code, 0);
  // Once each time it runs out, however many retries that takes; never a line per retry.
  const spells = result.stderr.match(/accept failed/g)?.length ?? 0;
  assert.ok(spells >= 1 && spells <= 3, result.stderr);
  assert.equal(result.stderr.match(/accepting connections again/g)?.length, spells);
  assertNoBug(result.stderr);
});

Deno.test("tsd --proto tcp at its descriptor limit as clients come and go says so at most once a second, with a count", async () => {
  await using server = await startTsd("tcp", ["-q"], "127.0.0.1", { maxFiles: 64 });
  const held = await Promise.all(Array.from({ length: 64 }, () => connect(server.port)));
  await server.proc.stderr.waitFor(/accept failed/, 5000);
  const started = performance.now();
  for (let i = 0; performance.now() - started < 2500 && i < 2000; i++) {
    held.shift()!.close(); // one leaves, a queued one gets in, and a new one comes
    held.push(await connect(server.port));
    await sleep(20);
  }
  const seconds = (performance.now() - started) / 1000;
  for (const conn of held) conn.close();
  assert.equal(await ask(server.port), "still there?\n");
  await sleep(1000); // the line that it is over comes a second after the last that it ran out
  const result = await server.stop();
  const failed = result.stderr.match(/accept failed/g)?.length ?? 0;
  console.log(`  ${failed} "accept failed" lines in ${seconds.toFixed(1)} s of churn`);
  assert.ok(failed <= Math.ceil(seconds) + 1, result.stderr);
  assert.equal(result.stderr.match(/accepting connections again/g)?.length, failed);
  assert.match(result.stderr, /accepting connections again \(ran out \d+ times in \d+\.\d s\)/);
  assertNoBug(result.stderr);
});

/**
 * A client in a request/reply loop until the server ends it: every reply must come whole, and
 * the end must be a clean EOF between replies. Returns how many replies came.
 */
async function requestLoop(port: number, id: number): Promise<number> {
  using conn = await connect(port);
  const buffer = new Uint8Array(256);
  for (let k = 0; k < 100_000; k++) {
    const payload = encoder.encode(`client ${id} request ${k}`);
    try {
      await writeAll(conn, payload);
    } catch (err) {
      assert.ok(err instanceof Deno.errors.BrokenPipe, `${err}`); // it had closed: none owed
      return k;
    }
    let got = 0;
    const expected = STAMP_LENGTH + payload.length;
    while (got < expected) {
      const n = await conn.read(buffer.subarray(got)); // a reset fails the test
      if (n === null) break;
      got += n;
    }
    if (got === 0) return k; // EOF instead of a reply: the server had not read this request
    assert.equal(got, expected, `client ${id}: a partial reply to request ${k}`);
    assert.equal(decoder.decode(splitStamp(buffer.subarray(0, got))), `client ${id} request ${k}`);
  }
  throw new Error("the loop was not ended by the stop");
}

/** A client making a connection per line until the server stops: each reply whole, or none. */
async function linePerConnectionLoop(port: number, id: number): Promise<number> {
  for (let k = 0; k < 100_000; k++) {
    let conn: Deno.TcpConn;
    try {
      conn = await connect(port);
    } catch {
      return k; // refused: the listener has closed
    }
    using _ = conn;
    const payload = encoder.encode(`client ${id} line ${k}\n`);
    const reply = await writeAll(conn, payload).then(() => readToEnd(conn)).catch((err) => {
      // Reset with no reply: it was queued, never accepted, when the listener closed.
      assert.ok(err instanceof Deno.errors.ConnectionReset, `${err}`);
      return new Uint8Array(0);
    });
    if (reply.length === 0) return k;
    assert.equal(reply.length, STAMP_LENGTH + payload.length, `client ${id}: partial reply`);
  }
  throw new Error("the loop was not ended by the stop");
}

for (
  const [proto, loop] of [
    ["tcp", requestLoop],
    ["ss", linePerConnectionLoop],
  ] as const
) {
  Deno.test(`tsd --proto ${proto} on SIGTERM under 64 busy clients answers what it read, whole, and exits 0 within 2 s`, async () => {
    await using server: Server = await startTsd(proto, ["-q"]);
    const clients = Array.from({ length: 64 }, (_, id) => loop(server.port, id));
    await sleep(700);
    const before = performance.now();
    const result = await server.stop("SIGTERM");
    const took = performance.now() - before;
    const replies = await Promise.all(clients);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(took < 2000, `took ${took} ms`);
    assert.match(result.stdout, /server stopped \(SIGTERM\)\n$/);
    assert.ok(replies.every((n) => n > 0), `every client was served: ${replies}`);
    assertNoBug(result.stderr);
  });
}

Deno.test("tsd --proto udp goes on when its replies meet closed ports (ICMP port unreachable)", async () => {
  await using server = await startTsd("udp", ["-q"]);
  const vanishing = rude("vanish", server.port, 300);
  let served = 0;
  let over = false;
  vanishing.finally(() => over = true);
  while (!over && served < 500) {
    const reply = await udpExchange(server.port, encoder.encode("still there?"));
    assert.equal(decoder.decode(splitStamp(reply)), "still there?");
    served++;
  }
  await vanishing;
  const reply = await udpExchange(server.port, encoder.encode("after"));
  assert.equal(decoder.decode(splitStamp(reply)), "after");
  const result = await server.stop();
  assert.equal(result.code, 0);
  assertNoBug(result.stderr);
});

/** tsTclnt on `port` with its standard input open, as when a person types its lines. */
function typingClient(port: number): Proc {
  return spawnScript("tsTclnt.ts", ["--host", "127.0.0.1", "--port", String(port)], {
    stdin: true,
  });
}

Deno.test("tsTclnt says so, exit 1, when its server dies mid-session", async () => {
  await using server = await startServer("tsTserv.ts");
  const client = typingClient(server.port);
  await client.write("first\n", false);
  await client.stdout.waitFor(/\] first\n> $/);
  server.proc.kill("SIGKILL");
  await server.proc.finish();
  await client.write("second\n");
  const result = await client.finish();
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^error: The server (closed the connection before it answered|reset the connection)\n$/,
  );
});

Deno.test("tsTclnt whose server (tsd --proto tcp) closed it for idling says it closed before it answered", async () => {
  await using server = await startTsd("tcp", ["-q", "--idle-timeout", "0.3"]);
  const client = typingClient(server.port);
  await client.write("first\n", false);
  await client.stdout.waitFor(/\] first\n> $/);
  await sleep(1000); // the user is away: the server ends the idle connection
  await client.write("second\n");
  const result = await client.finish();
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    /^error: The server closed the connection before it answered\n$/,
  );
});

Deno.test("tsTclntSS sends a line longer than the server's buffer and prints its reply whole", async () => {
  await using server = await startServer("tsTservSS.ts");
  const line = "0123456789".repeat(500); // 5,000 bytes; the server reads 1,024 at a time
  const result = await runScript(
    "tsTclntSS.ts",
    ["--host", "127.0.0.1", "--port", String(server.port)],
    `${line}\nnext`,
  );
  assert.equal(result.code, 0, result.stderr);
  const printed = result.stdout.split("> ").slice(1);
  assert.equal(printed.length, 3, result.stdout);
  assert.equal(printed[0].slice(STAMP_LENGTH), `${line}\n`);
  assert.equal(printed[1].slice(STAMP_LENGTH), "next\n", "nothing of it leaks into the next");
});

for (const proto of ["tcp", "ss"] as const) {
  Deno.test(`tsd --proto ${proto} --max-conns closes a connection beyond the cap at once, says so, and serves again below it`, async () => {
    await using server = await startTsd(proto, ["--max-conns", "2", "-q"]);
    const held = await Promise.all([1, 2].map(() => connect(server.port)));
    await sleep(100); // both accepted
    {
      using beyond = await connect(server.port);
      const read = beyond.read(new Uint8Array(8)).catch(() => null); // ends with the close
      assert.equal(await Promise.race([read, sleep(2000).then(() => "still open")]), null);
    }
    held.pop()!.close();
    await sleep(100); // its close is seen
    {
      using again = await connect(server.port);
      const line = encoder.encode("below the cap\n");
      await writeAll(again, line);
      assert.deepEqual(splitStamp(await readBytes(again, STAMP_LENGTH + line.length)), line);
    }
    for (const conn of held) conn.close();
    const result = await server.stop();
    assert.match(
      result.stderr,
      /^\.\.\.too many clients \(2 at once\): closed 1 new connection$/m,
    );
  });
}

/**
 * One request on a new connection, as `ask()` makes it; how long its whole reply took, or
 * `"refused"` if the server closed the connection without one.
 */
async function timedAsk(port: number, line: string): Promise<number | "refused"> {
  const started = performance.now();
  using conn = await connect(port);
  const payload = encoder.encode(line);
  await writeAll(conn, payload).catch(() => {}); // a refused one may be closed already
  const reply = await readBytes(conn, STAMP_LENGTH + payload.length).catch(() => undefined);
  if (reply?.length !== STAMP_LENGTH + payload.length) return "refused";
  assert.equal(decoder.decode(splitStamp(reply)), line);
  return performance.now() - started;
}

for (const proto of ["tcp", "ss"] as const) {
  Deno.test(`tsd --proto ${proto} at --max-conns: one address trickling a byte now and then into every slot does not keep out another`, async () => {
    await using server = await startTsd(proto, ["--max-conns", "200", "-q"]);
    // 220 connections from 127.0.0.2, each sending a byte every 2 s: never idle, and the cap
    // full; those closed come again when their next byte is due.
    const trickler = new Proc("python3", [RUDE, "trickle", String(server.port), "220", "30", "2"]);
    try {
      await trickler.stdout.waitFor(/^connected \d+$/m, 10_000);
      await server.proc.stderr.waitFor(/too many clients \(200 at once\): closed \d+ new/, 5000);
      const took: (number | "refused")[] = [];
      for (let i = 0; i < 40; i++) {
        took.push(await timedAsk(server.port, `good client, request ${i}\n`));
        await sleep(50);
      }
      const refused = took.filter((ms) => ms === "refused").length;
      const answered = took.filter((ms) => ms !== "refused" && ms < 1000).length;
      console.log(`  ${answered} of 40 answered within 1 s, ${refused} refused`);
      assert.equal(refused, 0, `${took}`);
      assert.ok(answered >= 38, `${took}`);
    } finally {
      trickler.kill("SIGTERM");
      await trickler.finish();
    }
    const result = await server.stop();
    assert.equal(result.code, 0);
    const shed =
      /^\.\.\.too many clients \(200 at once\): closed \d+ connections? quiet longest of 127\.0\.0\.2, which held the most \(\d+\), to let others in$/m;
    assert.match(result.stderr, shed);
    assertNoBug(result.stderr);
  });
}
