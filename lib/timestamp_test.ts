import assert from "node:assert/strict";
import { ctime, STAMP_LENGTH, stampReply } from "./timestamp.ts";

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
