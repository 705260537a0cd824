/**
 * The chapter's timestamp: `[`, the time as Python's `time.ctime()` writes it, `] `. A server
 * puts it before each message's bytes, unchanged: `[Thu Jun  4 19:56:18 2020] hello`.
 *
 * @module
 */

export const WEEKDAYS = "Sun Mon Tue Wed Thu Fri Sat".split(" ");
export const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");
/** Bytes in a stamp, `[` + ctime + `] `, for years 1000 to 9999. */
export const STAMP_LENGTH = 27;

/**
 * `date` in local time (`TZ` honoured) exactly as Python's `time.ctime()` writes it, the day of
 * the month padded with a space: `Thu Jun  4 19:56:18 2020`.
 */
export function ctime(date: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const day = String(date.getDate()).padStart(2, " ");
  const time = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const [weekday, month] = [WEEKDAYS[date.getDay()], MONTHS[date.getMonth()]];
  return `${weekday} ${month} ${day} ${time} ${date.getFullYear()}`;
}

const encoder = new TextEncoder();

/**
 * A reply: `[` + ctime() + `] `, then `payload` byte for byte, in one buffer (one write):
 * '[%s] %s' % (ctime(), data). The payload is never decoded, so invalid UTF-8, NUL bytes and a
 * character split across two reads all come back as they came.
 */
export function stampReply(payload: Uint8Array, now: number = Date.now()): Uint8Array {
  const stamp = encoder.encode(`[${ctime(new Date(now))}] `);
  const reply = new Uint8Array(stamp.length + payload.length);
  reply.set(stamp);
  reply.set(payload, stamp.length);
  return reply;
}
