/**
 * The README's "Watch it work": a server and its clients run with `--trace`, step by step, each
 * in a terminal of its own. A terminal shows a process's standard output and error as they
 * come, and echoes what is typed: so does each {@linkcode Terminal} here. `trace_test.ts` runs
 * these demos and checks the README's transcripts against them; run this file to write the
 * README's transcripts, and the sequence diagrams drawn from them, from a fresh run:
 *
 * ```sh
 * deno task trace-demo
 * ```
 *
 * @module
 */

import { STAMP_SOURCE } from "../server/reply.ts";
import { denoArgs } from "../tools/scripts.ts";
import { Proc } from "./processes.ts";
import { readBlock, writeBlock } from "./readme.ts";

/** One process, as its terminal shows it: the command typed, then its output and our typing. */
export class Terminal {
  readonly command: string;
  readonly proc: Proc;
  #typed: { at: number; text: string }[] = []; // echoed where the output stood when typed

  constructor(script: string, args: string[]) {
    const deno = denoArgs(script, args);
    this.command = `deno ${deno.join(" ").replace(/\S*\/scripts\//, "scripts/")}`;
    // Standard error into the same pipe as standard output, as a terminal shows them, in order.
    const both = ["-c", 'exec "$@" 2>&1', "sh", Deno.execPath(), ...deno];
    this.proc = new Proc("sh", both, { stdin: true });
  }

  /** Waits until the output matches `pattern` (10 s at most). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    return this.proc.stdout.waitFor(pattern, 10_000);
  }

  /** Types `line` and Enter, as a person at the terminal would. */
  async type(line: string): Promise<void> {
    this.#typed.push({ at: this.proc.stdout.bytes.length, text: `${line}\n` });
    await this.proc.write(`${line}\n`, false);
  }

  /** Sends `signal`, unless it has exited. */
  kill(signal: Deno.Signal): void {
    try {
      this.proc.kill(signal);
    } catch { /* it has exited */ }
  }

  /** Waits for the exit (10 s at most); the exit code. */
  async finish(): Promise<number> {
    await this.proc.child.stdin.close().catch(() => {});
    return (await this.proc.finish()).code;
  }

  /** What the terminal shows: `$ command`, then the output with the typing echoed in place. */
  get transcript(): string {
    const decoder = new TextDecoder();
    const output = this.proc.stdout.bytes;
    let shown = "";
    let from = 0;
    for (const { at, text } of this.#typed) {
      shown += decoder.decode(output.subarray(from, at)) + text;
      from = at;
    }
    shown += decoder.decode(output.subarray(from));
    return `$ ${this.command}\n${shown}`.trimEnd();
  }
}

/** A demo's terminals, by name, in the order the README shows them. */
export type Demo = Record<string, Terminal>;

const PROMPT = /> $/;
const sent = (id: string, text: string) =>
  new RegExp(`\\[${id}\\] send\\(b'\\[[^\\n]*\\] ${text}[^\\n]*\\n`);
const connected = (n: number) => new RegExp(`(connected from: [^\\n]*\\n[^]*){${n}}`);

/** Starts `script` as a server on a free port: its terminal, and the port. */
async function startServer(script: string): Promise<[Terminal, string]> {
  const terminal = new Terminal(script, ["--trace", "--port", "0"]);
  const [, port] = await terminal.waitFor(/waiting for \w+ on [^\n]*:(\d+)\.\.\.\n/);
  return [terminal, port];
}

/**
 * TCP: `tsTserv` and two `tsTclnt` at once. A says hello, B comes, speaks and goes, A says
 * more, the server is stopped (Ctrl-C) with A still connected, and A leaves.
 */
export async function tcpDemo(): Promise<Demo> {
  const [s, port] = await startServer("tsTserv.ts");
  const a = new Terminal("tsTclnt.ts", ["--trace", "--port", port]);
  let b: Terminal | undefined;
  try {
    await Promise.all([a.waitFor(PROMPT), s.waitFor(connected(1))]);
    await a.type("hello");
    await Promise.all([a.waitFor(/hello\n> $/), s.waitFor(sent("1", "hello"))]);
    b = new Terminal("tsTclnt.ts", ["--trace", "--port", port]);
    await Promise.all([b.waitFor(PROMPT), s.waitFor(connected(2))]);
    await b.type("hi there");
    await Promise.all([b.waitFor(/hi there\n> $/), s.waitFor(sent("2", "hi there"))]);
    await a.type("world");
    await Promise.all([a.waitFor(/world\n> $/), s.waitFor(sent("1", "world"))]);
    await b.type(""); // an empty line ends the client
    await Promise.all([b.finish(), s.waitFor(/\[2\] close\(\)/)]);
    s.kill("SIGINT"); // Ctrl-C, with A still connected
    await s.finish();
    await a.type("");
    await a.finish();
  } finally {
    for (const terminal of [s, a, b]) terminal?.kill("SIGKILL"); // if a step failed
    await Promise.all([s.finish(), a.finish(), b?.finish()]);
  }
  return { "tsTserv.ts": s, "tsTclnt.ts (A)": a, "tsTclnt.ts (B)": b! };
}

/**
 * A server and one client: `talk` types into the client; then an empty line ends it, and
 * Ctrl-C the server.
 */
async function oneClient(
  server: string,
  client: string,
  talk: (client: Terminal, server: Terminal) => Promise<void>,
): Promise<Demo> {
  const [s, port] = await startServer(server);
  const c = new Terminal(client, ["--trace", "--port", port]);
  try {
    await c.waitFor(PROMPT);
    await talk(c, s);
    await c.type("");
    await c.finish();
    s.kill("SIGINT");
    await s.finish();
  } finally {
    for (const terminal of [s, c]) terminal.kill("SIGKILL"); // if a step failed
    await Promise.all([s.finish(), c.finish()]);
  }
  return { [server]: s, [client]: c };
}

/** UDP: `tsUserv` and `tsUclnt`, two lines. */
export const udpDemo = () =>
  oneClient("tsUserv.ts", "tsUclnt.ts", async (c, s) => {
    for (const [n, line] of [[1, "hello"], [2, "world"]] as const) {
      await c.type(line);
      await Promise.all([
        c.waitFor(new RegExp(`${line}\\n> $`)),
        s.waitFor(new RegExp(`(returned to: [^\\n]*\\n[^]*){${n}}`)),
      ]);
    }
  });

/** SocketServer: `tsTservSS` and `tsTclntSS`, a connection for each of two lines. */
export const ssDemo = () =>
  oneClient("tsTservSS.ts", "tsTclntSS.ts", async (c, s) => {
    for (const [n, line] of [[1, "hello"], [2, "world"]] as const) {
      await c.type(line);
      await Promise.all([
        c.waitFor(new RegExp(`${line}\\n(?:[^\\n]*\\n)*> $`)),
        s.waitFor(new RegExp(`\\[${n}\\] close\\(\\)`)),
      ]);
    }
  });

/** The demos, by the name the README's markers give them. */
export const DEMOS: Record<string, () => Promise<Demo>> = {
  tcp: tcpDemo,
  udp: udpDemo,
  ss: ssDemo,
};

/** Who is in a diagram, left to right (alias, name), and the client of each connection. */
const CAST: Record<string, { participants: [string, string][]; client: (n: number) => string }> = {
  tcp: {
    participants: [["A", "tsTclnt.ts (A)"], ["S", "tsTserv.ts"], ["B", "tsTclnt.ts (B)"]],
    client: (n) => n === 1 ? "A" : "B",
  },
  ss: { participants: [["C", "tsTclntSS.ts"], ["S", "tsTservSS.ts"]], client: () => "C" },
};

/** Bytes as Python writes them, `b'hello'`, and the count that follows when they are cut. */
const BYTES = /b(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?:\.\.\. \(\d+ bytes\))?/;

/** A call as a note shows it, on connection `id`: its arguments left out, a failure kept. */
function bare(book: string, id: string): string {
  const [call, result] = book.replace(new RegExp(BYTES, "g"), "").split(" -> ");
  const on = id ? ` [${id}]` : "";
  if (/^sys\.exit/.test(call)) return call;
  const shown = call.replace(/\((?:[^()]|\([^()]*\))*\)/g, "()");
  return shown + on + (result && /Error/.test(result) ? ` -> ${result}` : "");
}

/** How a Deno call starts, in the trace's Deno column: not the book's words. */
const DENO_CALL = /^(?:(?:Deno|listener|conn|socket)[.[]|new TLSSocket)/;

/**
 * A transcript with each wrapped call on one line again: its book's words joined with a space,
 * its Deno call after two, as a line that fits is written.
 */
export function joinWrapped(transcript: string): string {
  const lines: string[] = [];
  let deno = false; // the line joined so far has its Deno part: what follows belongs to it
  for (const line of transcript.split("\n")) {
    const more = /^ {13}(\S.*)$/.exec(line);
    if (!more || !lines.length) {
      lines.push(line);
      deno = false;
      continue;
    }
    const starts: boolean = !deno && DENO_CALL.test(more[1]);
    lines[lines.length - 1] += (starts ? "  " : " ") + more[1];
    deno ||= starts;
  }
  return lines.join("\n");
}

/**
 * The calls of a transcript, each with its connection's number, the book's words and Deno's
 * (a wrapped one joined again: {@linkcode joinWrapped}); the server's own log lines and the
 * command are left out.
 */
function traceEntries(transcript: string): { id: string; book: string; deno: string }[] {
  const entries: { id: string; book: string; deno: string }[] = [];
  for (const line of joinWrapped(transcript).split("\n")) {
    const traced = /^\+\d+\.\d+ (?:\[(\d+)\]| {3}) (.*)$/.exec(line);
    if (!traced) continue;
    const [, id = "", rest] = traced;
    // The Deno column: after two spaces or more, a Deno call (a stamp has two spaces too).
    const split = new RegExp(`^(.*?) {2,}(${DENO_CALL.source.slice(1)}.*)$`).exec(rest);
    entries.push({ id, book: (split?.[1] ?? rest).trimEnd(), deno: split?.[2] ?? "" });
  }
  return entries;
}

/**
 * A Mermaid sequence diagram of a demo, drawn from its server's transcript alone: the bytes
 * that cross are arrows, to or from the client of that connection, and the server's other calls
 * are notes.
 */
export function sequenceDiagram(demo: string, transcript: string): string {
  const { participants, client: clientOf } = CAST[demo];
  const steps: string[] = [];
  for (const { id, book, deno } of traceEntries(transcript)) {
    const client = id ? clientOf(Number(id)) : "";
    const data = BYTES.exec(book)?.[0] ?? "";
    const arrow = (from: string, to: string, text: string) =>
      steps.push(`${from}->>${to}: ${text}`);
    if (/^accept\(\) -> \(/.test(book)) arrow(client, "S", `connect(), accept() [${id}]`);
    else if (/^recv\(\d+\) -> b'' /.test(book)) arrow(client, "S", "close(): end of input");
    else if (/^recv\(\d+\) -> \d+ bytes/.test(book)) arrow(client, "S", data);
    else if (/^send\(/.test(book)) arrow("S", client, data);
    else if (book === "shutdown(SHUT_WR)") arrow("S", client, "shutdown(SHUT_WR): end of output");
    else if (!/^setsockopt/.test(book)) { // (TCP_NODELAY: a detail of TCP, not of the exchange)
      steps.push(`Note over S: ${book === "close()" && !id ? deno : bare(book, id)}`);
    }
  }
  // Mermaid ends a statement at ";", and reads "#" as the start of an entity.
  const escape = (step: string) => step.replace(/[#;]/g, (c) => c === "#" ? "#35;" : "#59;");
  return [
    "sequenceDiagram",
    ...participants.map(([alias, name]) => `  participant ${alias} as ${name}`),
    ...steps.map((step) => `  ${escape(step)}`),
  ].join("\n");
}

/** The stamp, as a regular expression that finds every one. */
const STAMPS = new RegExp(STAMP_SOURCE, "g");

/**
 * A demo's transcripts with what changes from run to run made the same: times, stamps, and
 * ports (named in the order they first appear, across all of them, so that each is still the
 * same port wherever it appears); with them the width of the columns, so runs of spaces count as
 * two, and the spaces that end a line (the prompt's) go.
 */
export function normalise(transcripts: string[]): string[] {
  const ports = new Map<string, string>();
  const port = (number: string) => {
    if (!ports.has(number)) ports.set(number, `PORT${ports.size + 1}`);
    return ports.get(number)!;
  };
  return transcripts.map((text) =>
    text.replace(STAMPS, "[STAMP] ")
      .replace(/^\+\d+\.\d{3} /gm, "+T ")
      .replace(/('[^']*', |port: |--port |:)(\d+)\b/g, (_, before, number) => before + port(number))
      .replace(/ {2,}/g, "  ")
      .replace(/ +$/gm, "")
  );
}

if (import.meta.main) {
  // Rewrites the README's transcripts and diagrams from a fresh run of each demo, but only those
  // that differ from the README's in more than times, ports and stamps: a rerun with nothing
  // new leaves the README, and the tree, as they were.
  const path = new URL("../README.md", import.meta.url);
  let readme = await Deno.readTextFile(path);
  // As tests/trace_test.ts compares them: a demo's terminals together, so that ports match.
  const differs = (blocks: { block: string; text: string }[]) => {
    const now = normalise(blocks.map(({ text }) => text));
    const then = normalise(blocks.map(({ block }) => readBlock(readme, block)));
    return now.some((text, i) => text !== then[i]);
  };
  let changed = 0;
  for (const [name, demo] of Object.entries(DEMOS)) {
    const terminals = await demo();
    const blocks = Object.entries(terminals).map(([title, terminal]) => ({
      block: `trace-demo ${name} ${title}`,
      text: terminal.transcript,
    }));
    // A demo's terminals share their ports: rewrite all of them, or none.
    if (!differs(blocks)) continue;
    for (const { block, text } of blocks) readme = writeBlock(readme, block, text);
    if (CAST[name]) {
      const server = blocks[0].text;
      readme = writeBlock(readme, `trace-demo ${name} diagram`, sequenceDiagram(name, server));
    }
    changed++;
  }
  await Deno.writeTextFile(path, readme);
  console.log(
    changed === 0
      ? "README.md: its transcripts show what this run did, times, ports and stamps aside; unchanged"
      : `README.md: the transcripts of ${changed} demo(s) written from this run`,
  );
}
