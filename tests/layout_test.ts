/**
 * The two layers' rules. A lesson (`scripts/`) makes its socket calls in its own text, on a small
 * `lib/`, and never imports `server/` (but for the SocketServer pair, whose lesson is a library
 * making the calls); `lib/` never imports `server/`; in `server/`, only the commands read flags.
 * And the README's tables of both are true.
 */

import assert from "node:assert/strict";
import { BOOK_SCRIPTS } from "../tools/scripts.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));
const lineCount = (text: string) => text.split("\n").length - 1;
const LESSONS = [...BOOK_SCRIPTS, "tsUservSS.ts"];
/** The SocketServer pair's servers: their lesson is the `socketserver` classes of `server/`. */
const SOCKET_SERVER = ["tsTservSS.ts", "tsUservSS.ts"];

/**
 * Lines each lesson may load at start by static imports, itself included (`deno info`): the
 * target, and where it is not met yet, the most it loads today (lower it as it falls).
 */
const LOADED_AT_START: Record<string, { target: number; today?: number }> = {
  "tsTserv.ts": { target: 350, today: 450 },
  "tsTclnt.ts": { target: 300, today: 565 },
  "tsUserv.ts": { target: 300, today: 431 },
  "tsUclnt.ts": { target: 300, today: 415 },
  "tsTservSS.ts": { target: 1500, today: 1525 },
  "tsTclntSS.ts": { target: 300, today: 575 },
};
/** A lesson's own lines, most. */
const LESSON_LINES = 130;

interface Module {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    type?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

/** The project's modules `path` loads, each with its dependencies, from `deno info --json`. */
async function moduleGraph(path: string): Promise<Map<string, Module>> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(path, root).pathname],
    stderr: "inherit",
  }).output();
  assert.ok(success, `deno info ${path}`);
  const { modules } = JSON.parse(new TextDecoder().decode(stdout)) as { modules: Module[] };
  return new Map(
    modules.filter((m) => m.specifier.startsWith("file:")).map((m) => [m.specifier, m]),
  );
}

/**
 * The files `path` loads: at start, its static imports followed down; with `dynamic`, what it
 * may load later too (`import()`).
 */
async function loaded(path: string, dynamic = false): Promise<string[]> {
  const graph = await moduleGraph(path);
  const seen = new Set<string>();
  const todo = [new URL(path, root).href];
  while (todo.length) {
    const specifier = todo.pop()!;
    if (seen.has(specifier) || !graph.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of graph.get(specifier)!.dependencies ?? []) {
      if (dep.code && (dynamic || !dep.isDynamic)) todo.push(dep.code.specifier);
    }
  }
  return [...seen].map((specifier) => specifier.slice(root.href.length));
}

/** The `.ts` files of a folder, tests aside, with their line counts. */
async function sources(folder: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const entry of Deno.readDir(new URL(folder, root))) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    files.set(`${folder}${entry.name}`, lineCount(await read(`${folder}${entry.name}`)));
  }
  return files;
}

Deno.test("each lesson is short, and loads at start no more than its target", async () => {
  const figures: string[] = [];
  for (const script of LESSONS) {
    const own = lineCount(await read(`scripts/${script}`));
    assert.ok(own <= LESSON_LINES, `${script} is ${own} lines, more than ${LESSON_LINES}`);
    const most = LOADED_AT_START[script];
    if (!most) continue;
    let lines = 0;
    for (const file of await loaded(`scripts/${script}`)) lines += lineCount(await read(file));
    figures.push(`${script} ${lines} (target ${most.target})`);
    const limit = most.today ?? most.target;
    assert.ok(lines <= limit, `${script} loads ${lines} lines at start, more than ${limit}`);
  }
  console.log(`lines loaded at start: ${figures.join(", ")}`);
});

Deno.test("a lesson makes its socket calls in its own text", async () => {
  const calls: Record<string, RegExp[]> = {
    "tsTserv.ts": [
      /Deno\.listen\(/,
      /listener\.accept\(\)/,
      /conn\.read\(/,
      /conn\.write\(/,
      /conn\.close\(\)/,
    ],
    "tsTclnt.ts": [/Deno\.connect\(/, /conn\.write\(/, /conn\.read\(/],
    "tsTclntSS.ts": [/Deno\.connect\(/, /conn\.write\(/, /conn\.read\(/],
    "tsUserv.ts": [/Deno\.listenDatagram\(/, /socket\.receive\(/, /socket\.send\(/],
    "tsUclnt.ts": [/Deno\.listenDatagram\(/, /socket\.receive\(/, /socket\.send\(/],
    // The V6 pair show what changes for IPv6, the address and its socket; the rest is the V4's.
    "tsTservV6.ts": [/^const HOST = "::";/m, /Deno\.listen\(/, /AF_INET6/],
    "tsTclntV6.ts": [/^const HOST = "::1";/m, /Deno\.connect\(/, /AF_INET6/],
    // The SocketServer pair's server keeps the book's lesson: a library makes the calls.
    "tsTservSS.ts": [/extends StreamRequestHandler/, /this\.rfile\.readline\(\)/],
    "tsUservSS.ts": [/extends DatagramRequestHandler/, /this\.write\(/],
  };
  for (const [script, patterns] of Object.entries(calls)) {
    const source = await read(`scripts/${script}`);
    for (const pattern of patterns) assert.match(source, pattern, script);
  }
});

Deno.test("lessons reach server/ only as the SocketServer pair; lib/ never; lib/extras only when asked", async () => {
  for (const script of LESSONS) {
    for (const file of await loaded(`scripts/${script}`, true)) {
      if (file.startsWith("server/")) {
        assert.ok(SOCKET_SERVER.includes(script), `${script} loads ${file}`);
      }
    }
    const atStart = await loaded(`scripts/${script}`);
    assert.ok(!atStart.some((file) => file.startsWith("lib/extras/")), `${script} loads extras`);
  }
  for (const file of (await sources("lib/")).keys()) {
    const reached = await loaded(file, true);
    assert.deepEqual(reached.filter((f) => f.startsWith("server/")), [], `${file} reaches server/`);
  }
});

Deno.test("a template is a lesson and the lib/ it loads, under 600 lines together", async () => {
  const figures: string[] = [];
  // The V6 pair are the V4 lessons with another address: a template is the V4 one.
  const templates = LESSONS.filter((script) =>
    !SOCKET_SERVER.includes(script) && !/V6/.test(script)
  );
  for (const script of templates) {
    const files = (await loaded(`scripts/${script}`, true)).filter((f) => !/extras\//.test(f));
    let lines = 0;
    for (const file of files) lines += lineCount(await read(file));
    figures.push(`${script} ${lines}`);
    assert.ok(lines < TEMPLATE_LINES, `${script} and its lib/: ${lines} lines`);
  }
  console.log(`a lesson and its lib/: ${figures.join(", ")} (target 600)`);
});
/** The most lines a lesson and the `lib/` it loads may hold: the target is 600. */
const TEMPLATE_LINES = 790;

Deno.test("imports go down only, and in server/ only the commands read flags", async () => {
  const files = [
    ...(await sources("scripts/")).keys(),
    ...(await sources("lib/")).keys(),
    ...(await sources("lib/extras/")).keys(),
    ...(await sources("server/")).keys(),
  ];
  const commands = ["server/tsd.ts", "server/client.ts", "server/flags.ts", "server/proto.ts"];
  for (const file of files) {
    const source = await read(file);
    for (const [, path] of source.matchAll(/(?:from|import\() ?"([^"]+)"/g)) {
      if (path.startsWith("node:") || path.startsWith("npm:")) continue;
      const target = new URL(path, new URL(file, root)).href.slice(root.href.length);
      assert.match(target, /^(lib|scripts|server)\//, `${file} imports ${path}`);
      if (file.startsWith("lib/")) assert.match(target, /^lib\//, `${file} imports ${path}`);
      if (file.startsWith("server/")) {
        assert.match(target, /^(lib|server)\//, `${file} imports ${path}`);
        // Only its commands read a command line; the library, and its transports, take values.
        if (!commands.includes(file)) {
          assert.notEqual(target, "server/flags.ts", `${file} reads flags: it takes values`);
        }
      }
    }
  }
});

Deno.test("no import circles among the lessons, lib/ and server/", async () => {
  const edges = new Map<string, string[]>();
  const roots = [...LESSONS.map((script) => `scripts/${script}`), "server/tsd.ts"];
  for (const path of [...roots, "server/client.ts", "bench/tsLoad.ts"]) {
    for (const [specifier, module] of await moduleGraph(path)) {
      // Type-only imports count too: a circle of types is still a circle to a reader.
      const deps = (module.dependencies ?? []).flatMap((d) => d.code ?? d.type ?? []);
      edges.set(specifier, deps.map((dep) => dep.specifier));
    }
  }
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]) => {
    if (state.get(node) === "done") return;
    assert.notEqual(state.get(node), "open", `import circle: ${[...path, node].join(" → ")}`);
    state.set(node, "open");
    for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, "done");
  };
  for (const node of edges.keys()) visit(node, []);
});

Deno.test("the README's tables of lib/ and server/ list each file with its line count, and their totals", async () => {
  for (
    const [readme, folders] of [["README.md", ["lib/", "lib/extras/"]], ["server/README.md", [
      "server/",
    ]]] as const
  ) {
    const text = await read(readme);
    const rows = [...text.matchAll(/^\| `((?:lib|server)\/[\w/]+\.ts)` +\| +(\d+) \|/gm)];
    const files = new Map<string, number>();
    for (const folder of folders) {
      for (const [file, lines] of await sources(folder)) files.set(file, lines);
    }
    assert.deepEqual(
      new Map(rows.map(([, file, lines]) => [file, Number(lines)])),
      files,
      `${readme}: the tables' files and line counts`,
    );
    for (const folder of folders) {
      const total = [...files].filter(([file]) => file.replace(/[^/]+$/, "") === folder)
        .reduce((sum, [, lines]) => sum + lines, 0);
      const stated = text.match(new RegExp(`\`${folder}\` \\(([\\d,]+) lines`));
      assert.ok(stated, `${readme} states ${folder}'s size`);
      assert.equal(Number(stated[1].replace(",", "")), total, `${readme}: ${folder}'s size`);
    }
  }
});

Deno.test("the README's map from the book's calls links each lesson's line where the call is made", async () => {
  const readme = await read("README.md");
  const start = readme.indexOf("## From the book's socket calls to Deno's");
  const table = readme.slice(start, readme.indexOf("\n## ", start + 1));
  let links = 0;
  for (const row of table.split("\n").filter((line) => line.startsWith("| `"))) {
    const [, deno, where] = row.split(" | ").map((cell) => cell.trim());
    // What the line must hold: one of the row's Deno calls, up to its "(".
    const calls = [...deno.matchAll(/`(?:await )?([^`]+)`/g)].map(([, code]) =>
      code.replace(/\(.*$/, "(")
    );
    for (const [, script, line] of where.matchAll(/\[(\w+\.ts):(\d+)\]\(scripts\/\1#L\2\)/g)) {
      const text = (await read(`scripts/${script}`)).split("\n")[Number(line) - 1];
      assert.ok(
        calls.some((call) => text.includes(call)),
        `${script}:${line} has none of ${calls}`,
      );
      links++;
    }
  }
  assert.ok(links >= 20, `only ${links} links`);
});

Deno.test("tsTserv.ts shows the book's constants and the stamp in plain sight", async () => {
  const source = await read("scripts/tsTserv.ts");
  assert.match(source, /^const PORT = 21567;$/m);
  assert.match(source, /^const BUFSIZ = 1024;$/m);
  assert.match(
    source,
    /stampReply\(data\.subarray\(0, n\)\); \/\/ '\[%s\] %s' % \(ctime\(\), data\)/,
  );
  const ss = await read("scripts/tsTservSS.ts");
  assert.match(ss, /^class MyRequestHandler extends StreamRequestHandler \{$/m);
});

Deno.test("every script runs by itself: a shebang with its permissions, and the run bit", async () => {
  for await (const entry of Deno.readDir(new URL("scripts/", root))) {
    const path = `scripts/${entry.name}`;
    assert.match(await read(path), /^#!\/usr\/bin\/env -S deno run -N/, path);
    assert.ok(
      ((await Deno.stat(new URL(path, root))).mode ?? 0) & 0o100,
      `${path} is not executable`,
    );
  }
});
