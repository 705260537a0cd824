/**
 * The clients' side of the protocol: reading back the reply to a message. A server stamps every
 * read it makes, so a long message comes back in stamped parts, `[stamp] par[stamp] t2`. The
 * client knows the payload it sent, so `ReplyMatcher` (the lessons', `lib/reply.ts`) follows
 * the ways of reading the bytes as stamps and that payload; {@linkcode ReplyReader} waits out a
 * reply that is whole while a reading could still go on.
 *
 * @module
 */

import { Failure } from "../lib/command.ts";
import { writeAll } from "../lib/prompt.ts";
import { closedEarly, ReplyMatcher } from "../lib/reply.ts";
import { MONTHS, STAMP_LENGTH, WEEKDAYS } from "../lib/timestamp.ts";

/** The byte a stamp starts with, `[`; a stamp, as the source of a regular expression. */
export const STAMP_START = 0x5b;
export const STAMP_SOURCE = `\\[(?:${WEEKDAYS.join("|")}) (?:${MONTHS.join("|")}) ` +
  `[ 123]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\\] `;
const STAMP_PATTERN = new RegExp(`^${STAMP_SOURCE}$`);

/** Whether the `STAMP_LENGTH` bytes at `at` are a stamp. */
export function isStampAt(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === STAMP_START &&
    STAMP_PATTERN.test(String.fromCharCode(...bytes.subarray(at, at + STAMP_LENGTH)));
}

/** The first byte of a TLS alert record, what a TLS server sends a plain client. */
const TLS_ALERT = 0x15;
/** How long to wait for more when a whole reply could go on (its payload ends like a stamp). */
const AMBIGUOUS_WAIT_MS = 100;

/**
 * A client's connection to a timestamp server: sends a payload and reads the whole reply, in as
 * many reads as it takes (the book's reads 1024 bytes, so the rest of a long reply would leak
 * into the next). Each byte is scanned once and the buffer doubles: time grows with length.
 */
export class ReplyReader {
  #data = new Uint8Array(64 * 1024); // received and not yet returned: [0, #end)
  #end = 0;
  #chunk = new Uint8Array(64 * 1024);
  #pending: Promise<number | null> | null = null; // a read that a wait gave up on

  constructor(readonly conn: Deno.Conn) {}

  /**
   * Sends `payload` and returns the reply. What is not a stamped reply (another kind of server)
   * is returned as it came, as the book does.
   *
   * @throws {Failure} If the server closes or resets the connection first.
   */
  async request(payload: Uint8Array): Promise<Uint8Array> {
    // Send and receive at once: a server that answers a long payload as it reads it could
    // otherwise fill both directions' buffers and wait on us forever.
    const sent = writeAll(this.conn, payload);
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
    const matcher = new ReplyMatcher(payload);
    while (true) {
      const received = this.#data.subarray(0, this.#end);
      matcher.scan(received);
      const { complete } = matcher;
      if (!matcher.goesOn) {
        if (complete > 0) return this.#take(complete);
        if (this.#data[0] === TLS_ALERT && this.#data[1] === 3) {
          throw new Failure("The server answered with a TLS alert: it speaks TLS (run with --tls)");
        }
        if (this.#end > 0) return this.#take(this.#end); // not a reply: what came, as it came
      }
      // Whole as it stands, or with bytes to spare, but a reading goes on: wait a little.
      const n = await this.#read(complete > 0 ? AMBIGUOUS_WAIT_MS : Infinity);
      if (n === "timeout") return this.#take(complete);
      if (n === null) {
        if (complete > 0) return this.#take(complete);
        throw closedEarly(this.#end);
      }
    }
  }

  /** Reads once, appending to `#data`; `"timeout"` if nothing came within `ms`. */
  async #read(ms: number): Promise<number | null | "timeout"> {
    const reading = this.#pending ??= this.conn.read(this.#chunk);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      if (ms !== Infinity) timer = setTimeout(resolve, ms, "timeout");
    });
    let n: number | null | "timeout";
    try {
      n = await Promise.race([reading, timeout]);
    } catch (err) {
      if (err instanceof Deno.errors.ConnectionReset) {
        throw new Failure("The server reset the connection", { cause: err });
      }
      // A TLS server that closes without close_notify has still just finished.
      if (!(err instanceof Deno.errors.UnexpectedEof)) throw err;
      n = null;
    } finally {
      clearTimeout(timer);
    }
    if (n === "timeout") return n;
    this.#pending = null;
    if (n === null) return null;
    if (this.#end + n > this.#data.length) {
      const grown = new Uint8Array(Math.max(2 * this.#data.length, this.#end + n));
      grown.set(this.#data.subarray(0, this.#end));
      this.#data = grown;
    }
    this.#data.set(this.#chunk.subarray(0, n), this.#end);
    this.#end += n;
    return n;
  }

  /** Returns the first `length` bytes received, keeping the rest for the next reply. */
  #take(length: number): Uint8Array {
    const reply = this.#data.slice(0, length);
    this.#data.copyWithin(0, length, this.#end);
    this.#end -= length;
    return reply;
  }
}
