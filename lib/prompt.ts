/**
 * The clients' side of the terminal: the `> ` prompt, the lines typed or piped, a reply
 * printed, and a clean exit at Ctrl-C. Nothing here decodes text: any bytes pass unchanged.
 *
 * @module
 */

import { Failure } from "./command.ts";

/** Anything with Deno's `write`: a connection, `Deno.stdout`, a file. */
export interface Writer {
  write(data: Uint8Array): Promise<number>;
}

/** Writes all of `data`: one `write`, like `send()` in C or Python, may take only part of it. */
export async function writeAll(writer: Writer, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length;) done += await writer.write(data.subarray(done));
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
 * Yields the lines of a byte stream, each without its `\n`, the last one even without one. As
 * with Python's `input()` on a pipe, a `\r` before the `\n` stays in the line.
 */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  // Bytes not yet yielded are `data[start, end)`; each byte is searched once, and the buffer
  // doubles when a line outgrows it, so a line of any length costs time in proportion to it.
  let [data, start, end] = [new Uint8Array(64 * 1024), 0, 0];
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
    while ((newline = data.subarray(searched, end).indexOf(0x0a)) !== -1) {
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
 * Asks for lines as the book's clients do with `input('> ')`, typed or piped, until an empty
 * line or the end of input. From the call on, Ctrl-C or SIGTERM exits at once, with status 0:
 * a client owes no one a reply (at a terminal, it ends the prompt's line first).
 */
export function promptLines(): AsyncGenerator<Uint8Array> {
  const signals = Deno.build.os === "windows" ? ["SIGINT" as const] : STOP_SIGNALS;
  for (const signal of signals) {
    Deno.addSignalListener(signal, () => {
      if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(LINE_END);
      Deno.exit(0);
    });
  }
  return prompting();
}
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

async function* prompting(): AsyncGenerator<Uint8Array> {
  const input = lines(Deno.stdin.readable);
  while (true) {
    await writeAll(STDOUT, PROMPT);
    const line = await input.next().catch(failed("read standard input"));
    if (line.done || line.value.length === 0) return;
    yield line.value;
  }
}

/** Prints `bytes` and a newline on stdout, as they are, like `print()` of a reply. */
export async function printLine(bytes: Uint8Array): Promise<void> {
  await writeAll(STDOUT, bytes);
  await writeAll(STDOUT, LINE_END);
}
