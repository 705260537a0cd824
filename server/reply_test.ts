import assert from "node:assert/strict";
import { isStampAt, ReplyReader } from "./reply.ts";
import { Failure } from "../lib/command.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

const STAMP = "[Thu Jun  4 19:56:18 2020] ";

/** A server that reads `payload`'s length of bytes, then writes each of `pieces`. */
async function serveOnce(listener: Deno.TcpListener, length: number, pieces: string[]) {
  using conn = await listener.accept();
  const got = new Uint8Array(length);
  let n = 0;
  while (n < length) n += (await conn.read(got.subarray(n)))!;
  for (const piece of pieces) {
    await conn.write(bytes(piece));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await conn.read(got); // until the client closes
}

Deno.test("ReplyReader waits a moment when a reply is whole but may go on, and takes what comes", async () => {
  const payload = "a".repeat(1024) + STAMP + STAMP;
  const reply = STAMP + payload.slice(0, 1024) + STAMP + payload.slice(1024); // two reads
  for (const pieces of [[reply.slice(0, -27), reply.slice(-27)], [reply.slice(0, -27)]]) {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const serving = serveOnce(listener, payload.length, pieces);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const got = await new ReplyReader(conn).request(bytes(payload));
    assert.equal(new TextDecoder().decode(got), pieces.join(""));
    conn.close();
    await serving;
  }
});

Deno.test("ReplyReader reads a reply that comes in pieces, and reports a closed server", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    using conn = await listener.accept();
    const got = new Uint8Array(5);
    let n = 0;
    while (n < 5) n += (await conn.read(got.subarray(n)))!;
    for (const piece of [STAMP.slice(0, 10), STAMP.slice(10) + "he", "l", STAMP + "lo"]) {
      await conn.write(bytes(piece));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const reader = new ReplyReader(conn);
  const reply = await reader.request(bytes("hello"));
  assert.equal(new TextDecoder().decode(reply), STAMP + "hel" + STAMP + "lo");
  await serving;
  await assert.rejects(reader.request(bytes("again")), Failure);
});

Deno.test("isStampAt() tells a stamp, with a real day and month, from other text", () => {
  const stamp = bytes("x[Thu Jun  4 19:56:18 2020] y");
  assert.ok(isStampAt(stamp, 1));
  assert.ok(!isStampAt(stamp, 0));
  assert.ok(!isStampAt(bytes("[Thu Jun  4 19:56:18 2020]"), 0), "27 bytes, or it is none");
  assert.ok(!isStampAt(bytes("[Abc Jun  4 19:56:18 2020] "), 0), "a day that is none");
});
