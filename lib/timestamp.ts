/**
 * The chapter's timestamp: `[`, the time as Python's `time.ctime()` writes it, `] `. A server
 * puts it before each message's bytes, unchanged: `[Thu Jun  4 19:56:18 2020] hello`.
 *
 * @module
 */

import { MONTHS, STAMP_LENGTH, WEEKDAYS } from "./stamp_format.ts";

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

/** The stamp's bytes for the second `now` falls in (epoch milliseconds). */
function stampAt(now: number): Uint8Array {
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    stampBytes = encoder.encode(`[${ctime(new Date(second * 1000))}] `);
    stampSecond = second;
  }
  return stampBytes;
}

/**
 * Builds a reply: the stamp for `now`, then `payload` byte for byte. The payload is never
 * decoded, so invalid UTF-8, NUL bytes and a character split across two reads all come back as
 * they came. One buffer, so the reply goes out in one write.
 */
export function stampReply(payload: Uint8Array, now: number = Date.now()): Uint8Array {
  const stamp = stampAt(now);
  const reply = new Uint8Array(stamp.length + payload.length);
  reply.set(stamp);
  reply.set(payload, stamp.length);
  return reply;
}

/**
 * A reply built where its bytes are read, for a server that answers read after read: room for
 * the stamp, then {@linkcode data}, room for up to `size` bytes to read into. `stamped(n)` puts
 * the stamp in front of the `n` bytes read and gives the reply, stamp and bytes, ready to
 * write: no buffer made and no byte copied per reply, and the stamp's 27 bytes are written
 * again only when the second has changed.
 *
 * @example Usage
 * ```ts
 * import { ReplyBuffer } from "./timestamp.ts";
 * const reply = new ReplyBuffer(1024);
 * reply.data.set(new TextEncoder().encode("hi")); // as conn.read(reply.data) would
 * reply.stamped(2); // [Thu Jun  4 19:56:18 2020] hi
 * ```
 */
export class ReplyBuffer {
  /** Where to read the bytes to answer. */
  readonly data: Uint8Array;
  #second = NaN; // of the stamp in front
  #reply: Uint8Array; // the stamp and the last reply's bytes: as long a reply is the same view
  constructor(size: number) {
    this.#reply = new Uint8Array(STAMP_LENGTH + size);
    this.data = this.#reply.subarray(STAMP_LENGTH);
  }

  /** The stamp for `now`, then the first `n` bytes of {@linkcode data}: '[%s] %s' % (ctime(), data). */
  stamped(n: number, now: number = Date.now()): Uint8Array {
    if (this.#reply.length !== STAMP_LENGTH + n) {
      this.#reply = new Uint8Array(this.data.buffer, 0, STAMP_LENGTH + n);
    }
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#reply.set(stampAt(now)); // STAMP_LENGTH bytes, for years 1000 to 9999
      this.#second = second;
    }
    return this.#reply;
  }
}
