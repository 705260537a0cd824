/**
 * A child process whose output a test collects as it comes, and can wait on: the tests' way of
 * running a script, apart from their set-up (certificates, socket folders) so that a tool such
 * as `trace_demo.ts` can use it alone.
 *
 * @module
 */

import { concat } from "../lib/prompt.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Collects a child's output as it comes, so a test can wait for a line. */
export class Output {
  bytes: Uint8Array = new Uint8Array(0);
  readonly done: Promise<void>;
  #changed: () => void = () => {};
  #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(stream: ReadableStream<Uint8Array>) {
    const reader = this.#reader = stream.getReader();
    this.done = (async () => {
      while (true) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        this.bytes = concat(this.bytes, chunk);
        this.#changed();
      }
      this.#changed();
    })();
  }

  /** Stops reading and closes our end of the pipe, as a reader like `head` does when done. */
  async stop(): Promise<void> {
    await this.#reader.cancel();
    await this.done;
  }

  get text(): string {
    return decoder.decode(this.bytes);
  }

  /** Waits until the output matches `pattern`, for `ms` at most. */
  async waitFor(pattern: RegExp, ms = 5000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let ended = false;
    this.done.then(() => ended = true);
    while (true) {
      const match = this.text.match(pattern);
      if (match) return match;
      const left = deadline - Date.now();
      if (left <= 0 || ended) {
        throw new Error(`no ${pattern} in output within ${ms} ms; got:\n${this.text}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** A running subprocess with its output collected. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly stdout: Output;
  readonly stderr: Output;
  readonly started = performance.now();

  constructor(command: string, args: string[], options: SpawnOptions = {}) {
    this.child = new Deno.Command(command, {
      args,
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    this.stdout = new Output(this.child.stdout);
    this.stderr = new Output(this.child.stderr);
  }

  /** Sends `signal`. */
  kill(signal: Deno.Signal = "SIGINT"): void {
    this.child.kill(signal);
  }

  /** Waits for the exit, `ms` at most (then kills the process and fails). */
  async finish(ms = 10_000): Promise<Result> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
    const status = await Promise.race([this.child.status, timeout]);
    clearTimeout(timer);
    if (status === "timeout") {
      this.child.kill("SIGKILL");
      await this.child.status;
      await Promise.all([this.stdout.done, this.stderr.done]);
      throw new Error(
        `still running after ${ms} ms\nstdout:\n${this.stdout.text}\nstderr:\n${this.stderr.text}`,
      );
    }
    await Promise.all([this.stdout.done, this.stderr.done]);
    return {
      code: status.code,
      signal: status.signal,
      stdout: this.stdout.text,
      stdoutBytes: this.stdout.bytes,
      stderr: this.stderr.text,
      ms: performance.now() - this.started,
    };
  }

  /** Writes `input` to standard input and, unless told to keep it open, closes it. */
  async write(input: string | Uint8Array, close = true): Promise<void> {
    const writer = this.child.stdin.getWriter();
    await writer.write(typeof input === "string" ? encoder.encode(input) : input);
    writer.releaseLock();
    if (close) await this.child.stdin.close();
  }
}

export interface SpawnOptions {
  stdin?: boolean;
  env?: Record<string, string>;
  /** More `deno run` flags, such as `--allow-read=…` for TLS files. */
  denoFlags?: string[];
  /** Run with at most this many open files (`ulimit -n`). */
  maxFiles?: number;
}

export interface Result {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

const ROOT = new URL("..", import.meta.url);

/**
 * Starts a command line as a README writes it (`deno run -N scripts/tsTserv.ts --port 0`,
 * `haproxy -db -f haproxy.cfg`): words split at spaces ('quoted' ones kept whole), `deno` this
 * Deno, and scripts' paths from the root.
 */
export function runCommandLine(line: string, options: SpawnOptions = {}): Proc {
  // Words, or 'quoted words' as one (no more of a shell than that).
  const [command, ...args] = [...line.matchAll(/'([^']*)'|(\S+)/g)].map(([, quoted, word]) =>
    quoted ?? (word.startsWith("scripts/") ? new URL(word, ROOT).pathname : word)
  );
  return new Proc(command === "deno" ? Deno.execPath() : command, args, options);
}
