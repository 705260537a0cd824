/**
 * The chapter's timestamp protocol. A server answers each message with `[`, the time as
 * Python's `time.ctime()` writes it, `] `, then the message's bytes unchanged:
 * `[Thu Jun  4 19:56:18 2020] hello`. Servers build replies with {@linkcode stampReply};
 * clients read them back with {@linkcode ReplyReader}.
 *
 * @module
 */

import { Failure } from "./errors.ts";
import { concat, writeAll } from "./io.ts";

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

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
  return `${WEEKDAYS[date.getDay()]} ${
    MONTHS[date.getMonth()]
  } ${day} ${time} ${date.getFullYear()}`;
}

/** Bytes in a stamp, `[` + ctime + `] `, for years 1000 to 9999. */
export const STAMP_LENGTH = 27;

const encoder = new TextEncoder();
// The stamp changes once a second, so it is encoded once a second rather than per reply.
let stampSecond = NaN;
let stampBytes: Uint8Array = new Uint8Array(0);

/** The stamp for the time `now` (milliseconds), encoded. */
function stampAt(now: number): Uint8Array {
  const second = Math.floor(now / 1000);
  if (second !== stampSecond) {
    stampBytes = encoder.encode(`[${ctime(new Date(second * 1000))}] `);
    stampSecond = second;
  }
  return stampBytes;
}

/**
 * Builds a reply: the stamp, then `payload` byte for byte (never decoded, so invalid UTF-8,
 * NUL bytes and a character split across two reads all come back as they came). One buffer,
 * so the reply goes out in one write.
 */
export function stampReply(payload: Uint8Array, now: number = Date.now()): Uint8Array {
  const stamp = stampAt(now);
  const reply = new Uint8Array(stamp.length + payload.length);
  reply.set(stamp);
  reply.set(payload, stamp.length);
  return reply;
}

/**
 * A server's buffer for one request at a time, laid out as the reply will be: the message is
 * read into the space after the stamp, and the stamp is written in front, so a reply costs no
 * allocation and no copy. (The reply must be written before the next read.)
 *
 * @example Usage
 * ```ts ignore
 * const buffer = new ReplyBuffer(1024);
 * const n = await conn.read(buffer.payloadSpace);
 * if (n !== null) await writeAll(conn, buffer.reply(n));
 * ```
 */
export class ReplyBuffer {
  /** Where to read a message into: `bufsiz` bytes. */
  readonly payloadSpace: Uint8Array;
  #bytes: Uint8Array;

  constructor(bufsiz: number) {
    this.#bytes = new Uint8Array(STAMP_LENGTH + bufsiz);
    this.payloadSpace = this.#bytes.subarray(STAMP_LENGTH);
  }

  /** The reply to the `n` bytes just read into {@linkcode payloadSpace}. */
  reply(n: number, now: number = Date.now()): Uint8Array {
    const stamp = stampAt(now);
    if (stamp.length !== STAMP_LENGTH) return stampReply(this.payloadSpace.subarray(0, n), now);
    this.#bytes.set(stamp);
    return this.#bytes.subarray(0, STAMP_LENGTH + n);
  }
}

/** A stamp, as the source of a regular expression: `new RegExp(STAMP_SOURCE, "g")` finds them. */
export const STAMP_SOURCE = `\\[(?:${WEEKDAYS.join("|")}) (?:${MONTHS.join("|")}) ` +
  `[ 123]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\\] `;
const STAMP_PATTERN = new RegExp(`^${STAMP_SOURCE}$`);

/** Whether the {@linkcode STAMP_LENGTH} bytes at `at` are a stamp. */
export function isStampAt(bytes: Uint8Array, at: number): boolean {
  return STAMP_PATTERN.test(String.fromCharCode(...bytes.subarray(at, at + STAMP_LENGTH)));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** {@linkcode measureReply} needs more bytes before it can tell. */
export const NEED_MORE = 0;
/** {@linkcode measureReply} found something other than a reply. */
export const NOT_A_REPLY = -1;

/**
 * Finds where the reply to `payload` ends in `received`. A server stamps every read it makes,
 * so a long payload may come back as several stamped parts: `[stamp] par[stamp] t2`. The reply
 * is whole once every payload byte is back.
 *
 * @returns The reply's length in bytes, {@linkcode NEED_MORE}, or {@linkcode NOT_A_REPLY}.
 */
export function measureReply(received: Uint8Array, payload: Uint8Array): number {
  let at = 0; // into received
  let matched = 0; // payload bytes seen so far
  let stampNext = true;
  while (true) {
    if (stampNext) {
      if (received.length - at < STAMP_LENGTH) {
        return received[at] === undefined || received[at] === 0x5b ? NEED_MORE : NOT_A_REPLY;
      }
      if (!isStampAt(received, at)) return NOT_A_REPLY;
      at += STAMP_LENGTH;
      stampNext = false;
    }
    if (matched === payload.length) return at;
    if (at === received.length) return NEED_MORE;
    const rest = received.length - at;
    // A "[" may start the next part's stamp, or be a "[" of the payload; look far enough ahead.
    if (received[at] === 0x5b && rest < STAMP_LENGTH) {
      const tail = received.subarray(at);
      const payloadTail = payload.subarray(matched);
      return sameBytes(tail, payloadTail) ? received.length : NEED_MORE;
    }
    if (
      received[at] !== payload[matched] ||
      (received[at] === 0x5b && isStampAt(received, at) &&
        !sameBytes(
          received.subarray(at, at + STAMP_LENGTH),
          payload.subarray(matched, matched + STAMP_LENGTH),
        ))
    ) {
      stampNext = true;
      continue;
    }
    at++;
    matched++;
  }
}

/**
 * The client side of a TCP connection to a timestamp server: sends a payload and reads the whole
 * reply to it, however many reads that takes (the book's client reads at most 1024 bytes, so
 * the rest of a long reply would leak into the next one).
 */
export class ReplyReader {
  #conn: Deno.Conn;
  #received: Uint8Array = new Uint8Array(0);
  #buffer = new Uint8Array(64 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Sends `payload` and returns the server's reply to it. If what comes back is not a stamped
   * reply (some other kind of server), returns what the first read brought, as the book does.
   *
   * @throws {Failure} If the server closes or resets the connection first.
   */
  async request(payload: Uint8Array): Promise<Uint8Array> {
    // Send and receive at once: a server that answers a long payload as it reads it could
    // otherwise fill both directions' buffers and wait on us forever.
    const sent = writeAll(this.#conn, payload);
    try {
      const reply = await this.#readReply(payload);
      await sent;
      return reply;
    } catch (err) {
      sent.catch(() => {}); // the read's failure is the one worth reporting
      throw err;
    }
  }

  async #readReply(payload: Uint8Array): Promise<Uint8Array> {
    while (true) {
      const length = measureReply(this.#received, payload);
      if (length > 0 || (length === NOT_A_REPLY && this.#received.length > 0)) {
        const end = length > 0 ? length : this.#received.length;
        const reply = this.#received.slice(0, end);
        this.#received = this.#received.slice(end);
        return reply;
      }
      let n: number | null;
      try {
        n = await this.#conn.read(this.#buffer);
      } catch (err) {
        if (err instanceof Deno.errors.ConnectionReset) {
          throw new Failure("The server reset the connection", { cause: err });
        }
        throw err;
      }
      if (n === null) {
        throw new Failure(
          this.#received.length === 0
            ? "The server closed the connection"
            : "The server closed the connection in the middle of a reply",
        );
      }
      this.#received = concat(this.#received, this.#buffer.slice(0, n));
    }
  }
}
