/**
 * A TCP client's whole reply. The server stamps each read it makes, so a long line comes back in
 * parts, `[stamp] par[stamp] t2`, however TCP cut it. The client knows what it sent, so it reads
 * until the bytes, stamps aside, are that line.
 *
 * @module
 */

import { Failure } from "./command.ts";

/** What each of a stamp's bytes may be: a letter, a digit, a digit or space, or itself. */
const STAMP_SHAPE = "[aaa aaa _9 99:99:99 9999] ";

/** Whether the bytes at `at` are a stamp (`true`), may be one once more come (`0`), or not. */
export function stampAt(bytes: Uint8Array, at: number): boolean | 0 {
  for (let j = 0; j < STAMP_SHAPE.length; j++) {
    if (at + j === bytes.length) return 0;
    const [byte, shape] = [bytes[at + j], STAMP_SHAPE[j]];
    const fits = shape === "a"
      ? (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
      : shape === "9"
      ? byte >= 0x30 && byte <= 0x39
      : shape === "_"
      ? byte === 0x20 || (byte >= 0x31 && byte <= 0x33)
      : byte === shape.charCodeAt(0);
    if (!fits) return false;
  }
  return true;
}

/** One way of reading the bytes so far: bytes read, payload found, and what comes next. */
type Reading = { at: number; matched: number; stampNext: boolean; partBegun: boolean };

/**
 * The most ways of reading a reply followed at once. A line full of stamp-like text could make
 * every one of its `[` a place where the server may have stamped a new read; past this many, no
 * new place is tried, the readings already followed go on, and time grows with the reply's
 * length alone.
 */
const MOST_READINGS = 32;

/**
 * Follows the readings of a reply to `payload` as its bytes come in, each byte once per reading.
 * There is nearly always one: a `[` in the payload adds another only until the bytes after it
 * show that no stamp starts there.
 */
export class ReplyMatcher {
  #readings: Reading[] = [{ at: 0, matched: 0, stampNext: true, partBegun: false }];
  /** The length of the longest reading that has taken the whole payload; -1 for none. */
  complete = -1;

  constructor(readonly payload: Uint8Array) {}

  /** Whether some reading needs more bytes than have come: the reply may go on. */
  get goesOn(): boolean {
    return this.#readings.length > 0;
  }

  /** Reads on through `received`: the bytes given last time, and more. */
  scan(received: Uint8Array): void {
    const payload = this.payload;
    const waiting: Reading[] = [];
    const work: Reading[] = [];
    // Two readings that meet go on alike: each (place, stamps so far) is followed once.
    const seen = new Set<string>();
    const follow = (reading: Reading, list: Reading[]) => {
      const key = `${reading.at} ${reading.matched} ${reading.stampNext}`;
      if (!seen.has(key)) list.push(reading);
      seen.add(key);
    };
    // A new place where a stamp may start, unless enough readings are followed already.
    const branch = (reading: Reading) => {
      if (work.length + waiting.length < MOST_READINGS) follow(reading, work);
    };
    for (const reading of this.#readings) follow(reading, work);
    let reading: Reading | undefined;
    while ((reading = work.pop())) {
      let { at, matched, partBegun } = reading;
      if (reading.stampNext) {
        const stamp = stampAt(received, at);
        if (stamp === 0) waiting.push(reading);
        if (stamp !== true) continue;
        at += STAMP_SHAPE.length;
        partBegun = false;
      }
      while (matched < payload.length && at < received.length) {
        const byte = received[at];
        // A server may have stamped a new read here, if the stamp's first byte is here.
        if (byte === 0x5b && partBegun) branch({ at, matched, stampNext: true, partBegun });
        if (byte !== payload[matched]) break;
        [at, matched, partBegun] = [at + 1, matched + 1, true];
      }
      if (matched === payload.length) this.complete = Math.max(this.complete, at);
      else if (at === received.length) {
        follow({ at, matched, stampNext: false, partBegun }, waiting);
      }
    }
    this.#readings = waiting;
  }
}

/** Whether `received` is, all of it, the reply to `payload`: for checking replies. */
export function isWholeReply(received: Uint8Array, payload: Uint8Array): boolean {
  const matcher = new ReplyMatcher(payload);
  matcher.scan(received);
  return matcher.complete === received.length;
}

/**
 * What a client knows when its server closes before the whole reply has come: whether any of
 * it had, not why (a stop, a limit, a timeout and a wrong kind of server all look alike).
 */
export function closedEarly(received: number): Failure {
  return new Failure(
    received === 0
      ? "The server closed the connection before it answered"
      : "The server closed the connection in the middle of its reply",
  );
}

/** After this long without a reply, a client says what may be wrong, once, and waits on. */
export const SILENCE_MS = 3000;
export const SILENCE = "(no reply yet: a server that answers whole lines, such as tsTservSS or " +
  "tsd --proto ss, waits for a newline: use tsTclntSS, or client.ts --proto ss)";

/** The bytes read so far of the reply to a line, as they come in. */
export class Reply {
  #got = new Uint8Array(64 * 1024); // received: [0, #end); it doubles when it must
  #end = 0;
  #matcher: ReplyMatcher;

  constructor(sent: Uint8Array) {
    this.#matcher = new ReplyMatcher(sent);
  }

  /** Whether the reply is whole, or cannot be one (then it is taken as it came). */
  get done(): boolean {
    return !this.#matcher.goesOn || this.#matcher.complete === this.#end;
  }

  /** The reply, or what came, as it came, if it is not one. */
  get bytes(): Uint8Array {
    const { complete } = this.#matcher;
    return this.#got.subarray(0, complete > 0 ? complete : this.#end);
  }

  /** Takes `bytes` read from the connection. */
  add(bytes: Uint8Array): void {
    if (this.#end + bytes.length > this.#got.length) {
      const grown = new Uint8Array(Math.max(2 * this.#got.length, this.#end + bytes.length));
      grown.set(this.#got.subarray(0, this.#end));
      this.#got = grown;
    }
    this.#got.set(bytes, this.#end);
    this.#end += bytes.length;
    this.#matcher.scan(this.#got.subarray(0, this.#end));
    // A TLS server answers a plain client with an alert record: 0x15, then the version, 3.x.
    if (this.done && this.#matcher.complete < 0 && this.#got[0] === 0x15 && this.#got[1] === 3) {
      throw new Failure(
        "The server answered with a TLS alert: it speaks TLS (use server/client.ts)",
      );
    }
  }
}
