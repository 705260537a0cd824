/**
 * The production server's replies, built where their bytes are read: the lessons'
 * `stampReply()` makes a buffer per reply, which a server answering read after read need not.
 *
 * @module
 */

import { ctime, STAMP_LENGTH } from "../lib/timestamp.ts";

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
 * A reply built where its bytes are read, for a server that answers read after read: room for
 * the stamp, then {@linkcode data}, room for up to `size` bytes to read into. `stamped(n)` puts
 * the stamp in front of the `n` bytes read and gives the reply, stamp and bytes, ready to
 * write: no buffer made and no byte copied per reply, and the stamp's 27 bytes are written
 * again only when the second has changed.
 *
 * @example Usage
 * ```ts
 * import { ReplyBuffer } from "./reply_buffer.ts";
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
