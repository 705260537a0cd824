import assert from "node:assert/strict";
import {
  ctime,
  measureReply,
  NEED_MORE,
  NOT_A_REPLY,
  ReplyBuffer,
  ReplyReader,
  STAMP_LENGTH,
  stampReply,
} from "./timestamp.ts";
import { Failure } from "./errors.ts";

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

/** Runs `command` with `input` on stdin and `TZ` set; returns its stdout's lines. */
async function linesOf(command: string, args: string[], tz: string, input: string) {
  const child = new Deno.Command(command, {
    args,
    env: { TZ: tz },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes(input));
  await writer.close();
  const { code, stdout } = await child.output();
  assert.equal(code, 0, `${command} failed`);
  return new TextDecoder().decode(stdout).trimEnd().split("\n");
}

/** Seconds since the epoch to try: spread over 1970–2037, and around DST changes. */
function instants(): number[] {
  const out: number[] = [0, 1, 86399, 86400, 951782400, 1591300578, 2147483647];
  let seed = 12345;
  for (let i = 0; i < 300; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out.push(seed);
  }
  // 2024's DST changes: US (Mar 10, Nov 3), EU (Mar 31, Oct 27), Australia (Apr 7, Oct 6),
  // Lord Howe's half hour, Chatham's 45 minutes; each hour ± 1 s around them.
  for (
    const day of [
      "2024-03-10",
      "2024-11-03",
      "2024-03-31",
      "2024-10-27",
      "2024-04-06",
      "2024-10-05",
    ]
  ) {
    const midnight = Date.parse(`${day}T00:00:00Z`) / 1000;
    for (let hour = -14; hour <= 26; hour++) {
      for (const delta of [-1, 0, 1, 1799, 1800, 2699, 2700]) {
        out.push(midnight + hour * 3600 + delta);
      }
    }
  }
  return out;
}

const ZONES = [
  "UTC",
  "America/New_York",
  "Europe/London",
  "Europe/Berlin",
  "Asia/Kolkata",
  "Australia/Sydney",
  "Australia/Lord_Howe",
  "Pacific/Chatham",
  "America/St_Johns",
  "EST5EDT",
];

Deno.test("ctime() matches Python's time.ctime() in many time zones, DST changes included", async () => {
  const times = instants();
  const input = times.join("\n") + "\n";
  const module = new URL("./timestamp.ts", import.meta.url).href;
  const ours = `import { ctime } from "${module}";
    const text = await new Response(Deno.stdin.readable).text();
    console.log(text.trim().split("\\n").map((s) => ctime(new Date(Number(s) * 1000))).join("\\n"));`;
  const python = "import sys, time\nfor s in sys.stdin: print(time.ctime(int(s)))";
  await Promise.all(ZONES.map(async (tz) => {
    const [expected, actual] = await Promise.all([
      linesOf("python3", ["-c", python], tz, input),
      linesOf(Deno.execPath(), ["eval", ours], tz, input),
    ]);
    assert.equal(actual.length, times.length);
    for (let i = 0; i < times.length; i++) {
      assert.equal(actual[i], expected[i], `TZ=${tz}, t=${times[i]}`);
    }
  }));
});

Deno.test("ctime() pads the day of the month with a space", () => {
  assert.equal(ctime(new Date(2020, 5, 4, 19, 56, 18)), "Thu Jun  4 19:56:18 2020");
  assert.equal(ctime(new Date(2020, 5, 14, 9, 5, 8)), "Sun Jun 14 09:05:08 2020");
});

Deno.test("stampReply() puts the stamp before the payload's exact bytes", () => {
  const payload = new Uint8Array(256).map((_, i) => i);
  const now = new Date(2020, 5, 4, 19, 56, 18).getTime();
  const reply = stampReply(payload, now);
  assert.equal(
    new TextDecoder().decode(reply.subarray(0, STAMP_LENGTH)),
    "[Thu Jun  4 19:56:18 2020] ",
  );
  assert.deepEqual(reply.subarray(STAMP_LENGTH), payload);
  assert.equal(stampReply(new Uint8Array(0), now).length, STAMP_LENGTH);
});

Deno.test("stampReply() changes its stamp when the second changes", () => {
  const t = new Date(2020, 5, 4, 19, 56, 18).getTime();
  const text = (ms: number) => new TextDecoder().decode(stampReply(new Uint8Array(0), ms));
  assert.equal(text(t + 999), "[Thu Jun  4 19:56:18 2020] ");
  assert.equal(text(t + 1000), "[Thu Jun  4 19:56:19 2020] ");
});

const STAMP = "[Thu Jun  4 19:56:18 2020] ";

Deno.test("measureReply() finds a reply in one part or several", () => {
  assert.equal(measureReply(bytes(STAMP + "hello"), bytes("hello")), 32);
  assert.equal(measureReply(bytes(STAMP + "hel" + STAMP + "lo"), bytes("hello")), 59);
  assert.equal(measureReply(bytes(STAMP), new Uint8Array(0)), 27);
  assert.equal(measureReply(bytes(STAMP + "hello" + "extra"), bytes("hello")), 32);
});

Deno.test("measureReply() waits for the rest of a reply", () => {
  assert.equal(measureReply(new Uint8Array(0), bytes("hi")), NEED_MORE);
  assert.equal(measureReply(bytes("[Thu Ju"), bytes("hi")), NEED_MORE);
  assert.equal(measureReply(bytes(STAMP + "h"), bytes("hi")), NEED_MORE);
  assert.equal(measureReply(bytes(STAMP + "he" + "[Thu"), bytes("hello")), NEED_MORE);
});

Deno.test("measureReply() tells a payload's '[' from the next part's stamp", () => {
  const payload = bytes("a[b]c[");
  assert.equal(measureReply(bytes(STAMP + "a[b]c["), payload), 33);
  assert.equal(measureReply(bytes(STAMP + "a" + STAMP + "[b]c["), payload), 60);
  assert.equal(measureReply(bytes(STAMP + "a[" + STAMP + "b]c["), payload), 60);
  // A payload that itself holds a stamp comes back whole, not mistaken for a second part.
  const quoted = bytes("x" + STAMP + "y");
  assert.equal(measureReply(bytes(STAMP + "x" + STAMP + "y"), quoted), 56);
});

Deno.test("measureReply() rejects what is not a reply", () => {
  assert.equal(
    measureReply(bytes("hello there, this is not a timestamp reply"), bytes("x")),
    NOT_A_REPLY,
  );
  assert.equal(measureReply(bytes(STAMP + "nope"), bytes("yes!")), NOT_A_REPLY);
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

Deno.test("ReplyBuffer builds the reply in place: the stamp, then the bytes read after it", () => {
  const buffer = new ReplyBuffer(8);
  assert.equal(buffer.payloadSpace.length, 8);
  buffer.payloadSpace.set([0x68, 0x69, 0x00, 0xff]);
  const when = new Date(2020, 5, 4, 19, 56, 18).getTime();
  assert.deepEqual(buffer.reply(4, when), stampReply(Uint8Array.of(0x68, 0x69, 0x00, 0xff), when));
  buffer.payloadSpace.set([0x41]);
  assert.deepEqual(buffer.reply(1, when + 1000), stampReply(Uint8Array.of(0x41), when + 1000));
  assert.equal(buffer.reply(0, when).length, STAMP_LENGTH);
});
