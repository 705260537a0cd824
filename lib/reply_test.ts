import assert from "node:assert/strict";
import { isWholeReply, Reply, ReplyMatcher, stampAt } from "./reply.ts";

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

Deno.test("ReplyMatcher rejects what is not a reply", () => {
  const notStamped = bytes("hello there, this is not a timestamp reply");
  assert.deepEqual(match(notStamped, bytes("x")), { complete: -1, goesOn: false });
  assert.deepEqual(match(bytes("[y] echo"), bytes("[y] echo")), { complete: -1, goesOn: false });
  assert.deepEqual(match(bytes(STAMP + "nope"), bytes("yes!")), { complete: -1, goesOn: false });
  assert.ok(isWholeReply(bytes(STAMP + "yes!"), bytes("yes!")));
  assert.ok(!isWholeReply(bytes(STAMP + "yes!!"), bytes("yes!")));
});

Deno.test("stampAt() tells a stamp, the start of one, and other text, by its shape", () => {
  assert.equal(stampAt(bytes("x[Thu Jun  4 19:56:18 2020] y"), 1), true);
  for (const start of ["", "[", "[Th", "[Thu Jun 1", "[Thu Jun  4 19:56:18 2020"]) {
    assert.equal(stampAt(bytes(start), 0), 0, start);
  }
  for (const start of ["x", "[[", "[y]", "[Thu-", "[Thu Jun  4 19:56:1x"]) {
    assert.equal(stampAt(bytes(start), 0), false, start);
  }
});

Deno.test("ReplyMatcher reads a line full of stamps in time that grows with its length alone", () => {
  // Every "[" of such a line is a place where the server may have stamped a new read.
  const line = STAMP.repeat(4000); // 108 kB
  const reply = bytes(STAMP + line);
  const matcher = new ReplyMatcher(bytes(line));
  const started = performance.now();
  for (let end = 4096; end < reply.length; end += 4096) matcher.scan(reply.subarray(0, end));
  matcher.scan(reply);
  assert.equal(matcher.complete, reply.length);
  const took = performance.now() - started;
  assert.ok(took < 2000, `${took.toFixed(0)} ms`); // 190 s before the readings were bounded
});

Deno.test("Reply is whole once the stamped parts are the line, and keeps nothing after it", () => {
  const reply = new Reply(bytes("hello world"));
  reply.add(bytes(STAMP + "hello"));
  assert.equal(reply.done, false);
  reply.add(bytes(STAMP + " world"));
  assert.equal(reply.done, true);
  assert.equal(new TextDecoder().decode(reply.bytes), `${STAMP}hello${STAMP} world`);
  const other = new Reply(bytes("hi"));
  other.add(bytes("not a reply at all"));
  assert.equal(other.done, true, "what cannot be a reply is taken as it came");
  assert.equal(new TextDecoder().decode(other.bytes), "not a reply at all");
});
