/**
 * A TCP client's whole reply. The server stamps each read it makes, so a long line comes back in
 * parts, `[stamp] par[stamp] t2`, however TCP cut it. The client knows what it sent, so it reads
 * until the bytes, stamps aside, are that line.
 *
 * @module
 */

import { Failure } from "./command.ts";
import { concat } from "./prompt.ts";

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

/**
 * How many bytes of `got` are the whole reply to `sent`: stamped parts which, stamps aside, are
 * `sent`, each with at least one of its bytes. 0: not yet, more may come. -1: it cannot be one.
 */
export function replyLength(got: Uint8Array, sent: Uint8Array): number {
  let more = false;
  const todo = [[0, 0]]; // where a stamp may start: [in got, bytes of `sent` found before it]
  const tried = new Set<string>();
  for (let next; (next = todo.pop());) {
    let [i, j] = next;
    const stamp = stampAt(got, i);
    if (stamp !== true) {
      more ||= stamp === 0;
      continue;
    }
    for (i += STAMP_SHAPE.length; j < sent.length && got[i] === sent[j];) {
      [i, j] = [i + 1, j + 1];
      // A new part may start here, if a stamp does: a reading to try too (once per place).
      if (got[i] === 0x5b && !tried.has(`${i} ${j}`)) todo.push([i, j]), tried.add(`${i} ${j}`);
    }
    if (j === sent.length) return i;
    more ||= i === got.length;
  }
  return more ? 0 : -1;
}

/** The first byte of a TLS alert record, what a TLS server sends a plain client. */
const TLS_ALERT = 0x15;

/** The bytes read so far of the reply to a line, as they come in. */
export class Reply {
  #got: Uint8Array = new Uint8Array(0);
  #length = 0; // of the whole reply, once known; -1: these bytes are no reply

  constructor(readonly sent: Uint8Array) {}

  /** Whether the reply is whole, or cannot be one (then it is taken as it came). */
  get done(): boolean {
    return this.#length !== 0;
  }

  /** The reply, or what came, as it came, if it is not one. */
  get bytes(): Uint8Array {
    return this.#length > 0 ? this.#got.subarray(0, this.#length) : this.#got;
  }

  /** Takes `bytes` read from the connection. */
  add(bytes: Uint8Array): void {
    const got = this.#got = concat(this.#got, bytes);
    this.#length = replyLength(got, this.sent);
    if (this.#length === -1 && got[0] === TLS_ALERT && got[1] === 3) {
      throw new Failure(
        "The server answered with a TLS alert: it speaks TLS (use server/client.ts)",
      );
    }
  }
}
