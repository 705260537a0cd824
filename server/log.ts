/**
 * A server's log, which never waits for its reader. `console.log` writes to a pipe as a blocking
 * call: once nobody reads it (a stuck log shipper, a terminal paused with Ctrl-S) and its 64 KiB
 * are full, the whole server stops, serving included, until someone reads. Here each line is
 * handed to a writer of its own that waits instead, alone; meanwhile up to {@linkcode HELD_BYTES}
 * of lines wait in order, and lines beyond are dropped and counted. Once the reader is back, a
 * line says how many were dropped.
 *
 * @module
 */

import { writeAll } from "../lib/prompt.ts";
import { within } from "../lib/shutdown.ts";
import type { Console } from "./socket_server.ts";

/** The most bytes of lines held while nobody reads. */
export const HELD_BYTES = 256 * 1024;
/** The most bytes written at once: a pipe takes up to 4 KiB whole, so threads' lines never mix. */
const BATCH_BYTES = 4096;

const encoder = new TextEncoder();

/** Lines for one file (standard output, or error), written in order, never waited for. */
export class LogStream {
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #dropped = 0;
  #gone = false; // its reader has left (a broken pipe): nothing more is written
  #writing: Promise<void> | undefined;

  constructor(readonly file: { write(data: Uint8Array): Promise<number> }) {}

  /** Writes `text` and a newline: now, later, or, past {@linkcode HELD_BYTES} held, never. */
  line(text: string): void {
    if (this.#gone) return;
    const bytes = encoder.encode(`${text}\n`);
    if (this.#heldBytes + bytes.length > HELD_BYTES) {
      this.#dropped++;
      return;
    }
    this.#held.push(bytes);
    this.#heldBytes += bytes.length;
    this.#start();
  }

  /** Starts the writer, unless it runs: it writes until nothing is held. */
  #start(): void {
    if (this.#writing || this.#held.length === 0) return;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
      this.#start(); // a line held as the writer was ending
    });
  }

  /** Waits until what is held is written, `ms` at most: before the process exits. */
  async flush(ms = 1000): Promise<void> {
    if (this.#writing) await within(this.#writing, ms);
  }

  async #write(): Promise<void> {
    try {
      while (this.#held.length > 0) {
        // Whole lines, 4 KiB at most (one line may be longer), in one write.
        let [count, size] = [0, 0];
        const fits = () => count === 0 || size + this.#held[count].length <= BATCH_BYTES;
        while (count < this.#held.length && fits()) size += this.#held[count++].length;
        const batch = new Uint8Array(size);
        let at = 0;
        for (const bytes of this.#held.splice(0, count)) {
          batch.set(bytes, at);
          at += bytes.length;
        }
        await writeAll(this.file, batch);
        this.#heldBytes -= size;
        if (this.#dropped > 0 && this.#held.length === 0) {
          const dropped = this.#dropped;
          this.#dropped = 0;
          const lines = dropped === 1 ? "line" : "lines";
          this.line(`...${dropped} log ${lines} dropped while nobody read the log`);
        }
      }
    } catch {
      this.#gone = true; // nobody will read it again (`| head` has left, say): serve on, silent
      this.#held = [];
      this.#heldBytes = 0;
    }
  }
}

/** The process's log: standard output for what it does, standard error for what concerns it. */
export const LOG = { out: new LogStream(Deno.stdout), err: new LogStream(Deno.stderr) };

/** {@linkcode LOG} as a `Console`, what the server's parts take. */
export const LOG_CONSOLE: Console = {
  log: (line) => LOG.out.line(line),
  error: (line) => LOG.err.line(line),
};

/** Waits until the log is written, `ms` at most: before the process exits. */
export async function flushLog(ms = 1000): Promise<void> {
  await Promise.all([LOG.out.flush(ms), LOG.err.flush(ms)]);
}
