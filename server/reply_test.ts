import assert from "node:assert/strict";
import { couldBeStampAt, isStampAt, isWholeReply, ReplyMatcher, ReplyReader } from "./reply.ts";
import { Failure } from "../lib/command.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

const STAMP = "[Thu Jun  4 19:56:18 2020] ";

/** Where a reading of `received` as the reply to `payload` stands, scanned in `pieces`. */
function match(received: Uint8Array, payload: Uint8Array, pieces = 1) {
  const matcher = new ReplyMatcher(payload);
  for (let i = 1; i <= pieces; i++) {
    matcher.scan(received.subarray(0, Math.round((received.length * i) / pieces)));
  }
  return { complete: matcher.complete, goesOn: matcher.goesOn };
}

/** What a server with `bufsiz` sends back for `payload`: each read of it, stamped. */
function stamped(payload: string, bufsiz: number): string {
  let reply = "";
  for (let at = 0; at < payload.length; at += bufsiz) {
    reply += STAMP + payload.slice(at, at + bufsiz);
  }
  return reply;
}

Deno.test("ReplyMatcher finds a reply in one part or several", () => {
  assert.deepEqual(match(bytes(STAMP + "hello"), bytes("hello")), { complete: 32, goesOn: false });
  assert.deepEqual(match(bytes(STAMP + "hel" + STAMP + "lo"), bytes("hello")), {
    complete: 59,
    goesOn: false,
  });
  assert.deepEqual(match(bytes(STAMP), new Uint8Array(0)), { complete: 27, goesOn: false });
  // Bytes after the reply are not part of it.
  assert.deepEqual(match(bytes(STAMP + "hello" + "extra"), bytes("hello")), {
    complete: 32,
    goesOn: false,
  });
});

Deno.test("ReplyMatcher waits for the rest of a reply", () => {
  for (const received of ["", "[Thu Ju", STAMP + "h", STAMP + "he" + "[Thu"]) {
    const payload = received.endsWith("[Thu") ? "hello" : "hi";
    assert.deepEqual(match(bytes(received), bytes(payload)), { complete: -1, goesOn: true });
  }
});

Deno.test("ReplyMatcher tells a payload's '[' from the next part's stamp", () => {
  const payload = bytes("a[b]c[");
  for (
    const reply of [STAMP + "a[b]c[", STAMP + "a" + STAMP + "[b]c[", STAMP + "a[" + STAMP + "b]c["]
  ) {
    assert.equal(match(bytes(reply), payload).complete, bytes(reply).length, reply);
  }
  // A payload that itself holds a stamp comes back whole, not mistaken for a second part.
  const quoted = bytes("x" + STAMP + "y");
  assert.equal(match(bytes(STAMP + "x" + STAMP + "y"), quoted).complete, 56);
});

Deno.test("ReplyMatcher reads a payload holding stamps, split at any read, as the server sent it", () => {
  const cases: [string, number][] = [["abcdefg" + STAMP + "tail", 7], ["a" + STAMP + STAMP, 1]];
  for (const [payload, bufsiz] of cases) {
    const reply = bytes(stamped(payload, bufsiz));
    for (const pieces of [1, 2, 3, 7, 50]) {
      assert.deepEqual(match(reply, bytes(payload), pieces), {
        complete: reply.length,
        goesOn: false,
      });
    }
  }
});

Deno.test("ReplyMatcher says when a reply is whole but may go on: a payload ending in stamps", () => {
  // 1,024 bytes, then two stamps. A server reading 1,024 bytes at a time stamps those two
  // stamps as a second part; the reply's first 1,105 bytes are also the whole reply of a
  // server that read all 1,078 bytes at once. Only what comes next can tell.
  const payload = "a".repeat(1024) + STAMP + STAMP;
  const reply = bytes(stamped(payload, 1024));
  assert.deepEqual(match(reply, bytes(payload)), { complete: reply.length, goesOn: true });
  const shorter = reply.subarray(0, reply.length - 27);
  assert.deepEqual(match(shorter, bytes(payload)), { complete: shorter.length, goesOn: true });
});

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
  const reply = stamped(payload, 1024);
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

Deno.test("ReplyMatcher rejects what is not a reply", () => {
  const notStamped = bytes("hello there, this is not a timestamp reply");
  assert.deepEqual(match(notStamped, bytes("x")), { complete: -1, goesOn: false });
  assert.deepEqual(match(bytes("[y] echo"), bytes("[y] echo")), { complete: -1, goesOn: false });
  assert.deepEqual(match(bytes(STAMP + "nope"), bytes("yes!")), { complete: -1, goesOn: false });
  assert.ok(isWholeReply(bytes(STAMP + "yes!"), bytes("yes!")));
  assert.ok(!isWholeReply(bytes(STAMP + "yes!!"), bytes("yes!")));
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

Deno.test("isStampAt() and couldBeStampAt() tell a stamp, and the start of one, from other text", () => {
  const stamp = bytes("x[Thu Jun  4 19:56:18 2020] y");
  assert.ok(isStampAt(stamp, 1));
  assert.ok(!isStampAt(stamp, 0));
  assert.ok(!isStampAt(bytes("[Thu Jun  4 19:56:18 2020]"), 0), "27 bytes, or it is none");
  for (const start of ["", "[", "[Th", "[Thu Jun 1", "[Thu Jun  4 19:56:18 2020] "]) {
    assert.ok(couldBeStampAt(bytes(start), 0), start);
  }
  for (const start of ["x", "[[", "[y]", "[Thu-", "[Thu Jun  4 19:56:1x"]) {
    assert.ok(!couldBeStampAt(bytes(start), 0), start);
  }
});
