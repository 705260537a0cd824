/**
 * A log that nobody reads: tsd's standard output a pipe that is never read (a stuck log shipper,
 * a terminal paused with Ctrl-S). `console.log` would block the whole server once the pipe's
 * 64 KiB were full; tsd's log never waits (`server/log.ts`). Over UDP, where each datagram is a
 * log line and no connection is left behind.
 */

import assert from "node:assert/strict";
import { commandArgs, tsd } from "./commands.ts";
import { memoryKiB } from "./helpers.ts";

const PORT_LINE = /waiting for message on 127\.0\.0\.1:(\d+)\.\.\./;
const loopback = (port: number) => ({ transport: "udp" as const, hostname: "127.0.0.1", port });

/** Sends `count` datagrams from one socket, and takes whatever replies come back. */
async function flood(port: number, count: number): Promise<void> {
  const socket = Deno.listenDatagram(loopback(0));
  const draining = (async () => {
    try {
      for await (const _ of socket) { /* replies: dropped */ }
    } catch { /* closed */ }
  })();
  const payload = new TextEncoder().encode("flood");
  for (let i = 0; i < count; i++) await socket.send(payload, loopback(port));
  socket.close();
  await draining;
}

/** One datagram, and its reply within `ms`: how long it took, or -1. */
async function ask(port: number, ms = 1000): Promise<number> {
  const socket = Deno.listenDatagram(loopback(0));
  const began = performance.now();
  const timer = setTimeout(() => socket.close(), ms);
  try {
    await socket.send(new TextEncoder().encode("good"), loopback(port));
    const [reply] = await socket.receive();
    return /\] good$/.test(new TextDecoder().decode(reply)) ? performance.now() - began : -1;
  } catch {
    return -1;
  } finally {
    clearTimeout(timer);
    try {
      socket.close();
    } catch { /* closed by the timer */ }
  }
}

Deno.test("tsd serves on while nobody reads its log, holds it bounded, and says how many lines it dropped", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: commandArgs(tsd("udp"), ["--host", "127.0.0.1", "--port", "0"]),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  try {
    // Read only the first line, for the port; from then on nobody reads.
    let text = "";
    while (!PORT_LINE.test(text)) {
      const { value, done } = await reader.read();
      assert.ok(!done, "tsd did not start");
      text += new TextDecoder().decode(value);
    }
    const port = Number(text.match(PORT_LINE)![1]);
    // Each datagram is a log line of about 50 bytes: 12,000 fill the pipe's 64 KiB, and what
    // the log holds after it, several times over.
    await flood(port, 12_000);
    const before = await memoryKiB(child.pid, "VmRSS");
    // The good client, while the pipe is still full and more lines come.
    const times: number[] = [];
    const flooding = flood(port, 6_000);
    for (let i = 0; i < 40; i++) times.push(await ask(port));
    await flooding;
    const answered = times.filter((ms) => ms >= 0 && ms < 1000).length;
    const after = await memoryKiB(child.pid, "VmRSS");
    const slowest = Math.max(...times).toFixed(0);
    console.log(
      `${answered} of 40 answered within 1 s (slowest ${slowest} ms), RSS ${before} → ${after} KiB`,
    );
    assert.ok(answered >= 38, `${answered} of 40 answered within 1 s: ${times.map(Math.round)}`);
    assert.ok(after - before < 16 * 1024, `RSS grew ${after - before} KiB while the log was held`);

    // The reader comes back: the lines held, then one that says how many were dropped.
    child.kill("SIGTERM");
    let rest = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.match(rest, /^\.\.\.\d+ log lines dropped while nobody read the log$/m);
    assert.match(rest, /^server stopped \(SIGTERM\)$/m);
    assert.equal((await child.status).code, 0);
    assert.equal(await stderr, "");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* it has exited */ }
    await child.status;
  }
});
