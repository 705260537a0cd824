/**
 * The chapter's timestamp: `[`, the time as Python's `time.ctime()` writes it, `] `. A server
 * puts it before each message's bytes, unchanged: `[Thu Jun  4 19:56:18 2020] hello`.
 *
 * @module
 */

import { MONTHS, WEEKDAYS } from "./stamp_format.ts";

/**
 * Formats `date` in local time exactly as Python's `time.ctime()` does: the day of the month is
 * padded with a space, not a zero, and local time follows the `TZ` environment variable.
 *
 * @example Usage
 * ```ts
 * import { ctime } from "./timestamp.ts";
 * ctime(new Date(2020, 5, 4, 19, 56, 18)); // "Thu Jun  4 19:56:18 2020"
 * ```
 */
export function ctime(date: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, " ");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const [weekday, month] = [WEEKDAYS[date.getDay()], MONTHS[date.getMonth()]];
  return `${weekday} ${month} ${day} ${time} ${date.getFullYear()}`;
}

export { STAMP_LENGTH } from "./stamp_format.ts";
const encoder = new TextEncoder();
// The stamp changes once a second, so it is encoded once a second rather than per reply.
let stampSecond = NaN;
let stampBytes: Uint8Array = new Uint8Array(0);

/**
 * Builds a reply: the stamp for `now`, then `payload` byte for byte. The payload is never
 * decoded, so invalid UTF-8, NUL bytes and a character split across two reads all come back as
 * they came. One buffer, so the reply goes out in one write.
 */
export function stampReply(payload: Uint8Array, now: number = Date.now()): Uint8Array {
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    stampBytes = encoder.encode(`[${ctime(new Date(second * 1000))}] `);
    stampSecond = second;
  }
  const reply = new Uint8Array(stampBytes.length + payload.length);
  reply.set(stampBytes);
  reply.set(payload, stampBytes.length);
  return reply;
}
