/**
 * Byte-level input and output: writing a whole buffer, reading standard input as lines, the
 * clients' `> ` prompt, and a wait that a stop cuts short. Nothing here decodes text, so any
 * bytes pass through unchanged.
 *
 * @module
 */

import { Failure } from "./errors.ts";

/** Anything with Deno's `write`: a connection, `Deno.stdout`, a file. */
export interface Writer {
  write(data: Uint8Array): Promise<number>;
}

/** Writes all of `data`. One `write` may take only part of it, like `send()` in C or Python. */
export async function writeAll(writer: Writer, data: Uint8Array): Promise<void> {
  // Usually one write takes it all: no view of the rest is made until one is needed.
  let done = data.length === 0 ? 0 : await writer.write(data);
  while (done < data.length) done += await writer.write(data.subarray(done));
}

const NEWLINE = 0x0a;

/**
 * Yields the lines of a byte stream, each without its `\n`, the last one even without one. As
 * with Python's `input()` on a pipe, a `\r` before the `\n` stays in the line.
 */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  // Bytes not yet yielded are `data[start, end)`; each byte is searched once, and the buffer
  // doubles when a line outgrows it, so a line of any length costs time in proportion to it.
  let data = new Uint8Array(64 * 1024);
  let start = 0;
  let end = 0;
  for await (const chunk of stream) {
    if (end + chunk.length > data.length) {
      const size = end - start + chunk.length;
      const room = size > data.length ? new Uint8Array(Math.max(2 * data.length, size)) : data;
      room.set(data.subarray(start, end));
      [data, end, start] = [room, end - start, 0];
    }
    data.set(chunk, end);
    let searched = end;
    end += chunk.length;
    let newline: number;
    while ((newline = data.subarray(searched, end).indexOf(NEWLINE)) !== -1) {
      yield data.slice(start, searched + newline);
      start = searched = searched + newline + 1;
    }
  }
  if (end > start) yield data.slice(start, end);
}

/** A failure of standard input or output (a full disk, a folder) as one line, not a stack trace. */
const failed = (action: string) => (err: Error): never => {
  if (err instanceof Deno.errors.BrokenPipe) throw err; // its reader left (`| head`): exit 0
  const why = err.message.replace(/ \(os error \d+\)$/, "");
  throw new Failure(`Cannot ${action}: ${why[0].toLowerCase()}${why.slice(1)}`, { cause: err });
};
const STDOUT: Writer = {
  write: (data) => Deno.stdout.write(data).catch(failed("write to standard output")),
};

const PROMPT = new TextEncoder().encode("> ");
const LINE_END = new TextEncoder().encode("\n");

/**
 * Asks for lines as the book's clients do with `input('> ')`, typed or piped. Ends at an empty
 * line, the end of input, or when `signal` aborts (then, at a terminal, ends the prompt's line).
 */
export async function* promptLines(signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const input = lines(Deno.stdin.readable);
  try {
    while (true) {
      await writeAll(STDOUT, PROMPT);
      const line = await unlessStopped(input.next().catch(failed("read standard input")), signal);
      if (line === null || line.done || line.value.length === 0) return;
      yield line.value;
    }
  } finally {
    if (signal.aborted && Deno.stdout.isTerminal()) await writeAll(STDOUT, LINE_END);
  }
}

/** Prints `bytes` and a newline on stdout, as they are, like `print()` of a reply. */
export function printLine(bytes: Uint8Array): Promise<void> {
  return writeAll(STDOUT, concat(bytes, LINE_END));
}

/**
 * `a` followed by `b`, in a new buffer, always: never `a` or `b` itself, which its caller may
 * read into again (a PROXY header that comes in pieces is gathered so).
 */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/**
 * Waits for `op`, unless `signal` aborts first: then resolves with `null` at once. This is how
 * a stop interrupts a pending `read`, which cannot be cancelled; its outcome is then ignored.
 */
export function unlessStopped<T>(op: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) {
    op.catch(() => {}); // ended by the close that follows; nothing left to report
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener("abort", onAbort, { once: true });
    op.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
