/**
 * The shape a reader copies: what each book script loads at start (as `deno info` sees it),
 * `lib/`'s core, its extras and the production server (`server/`) apart, imports that only go
 * down, and the README's tables true.
 */

import assert from "node:assert/strict";
import { BOOK_SCRIPTS } from "../tools/scripts.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));
const lineCount = (text: string) => text.split("\n").length - 1;

/**
 * Lines each book script may load at start by static imports, itself included: the target, and
 * where a target is not met yet, the most it may load today (a ratchet: lower it as it falls).
 */
const LOADED_AT_START: Record<string, { target: number; today?: number }> = {
  // Issue 16's faults: TLS's and the cap's rules in connections.ts, the once-a-second lines.
  // Issue 18's hot path: ReplyBuffer, and acceptor() and Session without async frames (84).
  // Issue 17's --trace, in every script: its flag, and the lines that load it when given (7).
  // Issue 19's --proxy-protocol: its flags (14), formatPeer() (13), a stop that answers a new
  // connection first (Session.stop(), 12), Throttled.flush() (7): in all the scripts but the V6.
  "tsTserv.ts": { target: 1000, today: 1274 },
  // stdio errors, --host -h: 14; --trace 7; flags 13; issue 25: concat() never returns its input (2)
  "tsTclnt.ts": { target: 900, today: 923 },
  // the unread-reply rule, cannotReply() for UDP, throttled.ts; issue 18's ReplyBuffer (54);
  // issue 25's Replies.receive() (14), and a line a second for senders it cannot answer (58)
  "tsUserv.ts": { target: 800, today: 989 },
  "tsUclnt.ts": { target: 800 },
  // --line-budget's LineBudget; issue 18: kept read buffers, acceptor(), Session (101);
  // --trace's 7, and the hook that shows a handler's rfile and wfile (2)
  "tsTservSS.ts": { target: 1400, today: 1719 },
  // str.strip(), stdio errors, --host -h: 28; issue 25: concat() never returns its input (2)
  "tsTclntSS.ts": { target: 900, today: 943 },
};
/** Lines of `lib/`'s top-level files, tests aside: the target, and the most today. */
// issue 18's hot path: 108 of them; issue 17's --trace flag and handler hook: 4; issue 19's
// --proxy-protocol flags, formatPeer(), Session.stop(), Throttled.flush(), its types: 68; issue
// 25: Replies.receive(), which answers what waited on a Unix socket given up on, concat() (16),
// and Replies.unanswered(): a line a second for senders it cannot answer (14)
const CORE_LINES = { target: 1600, today: 2248 };

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
 * The files `path` loads at start: its static imports, followed down; with `types`, the files
 * it imports types from too, which load nothing.
 */
async function loadedAtStart(path: string, types = false): Promise<string[]> {
  const graph = await moduleGraph(path);
  const seen = new Set<string>();
  const todo = [new URL(path, root).href];
  while (todo.length) {
    const specifier = todo.pop()!;
    if (seen.has(specifier) || !graph.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of graph.get(specifier)!.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) todo.push(dep.code.specifier);
      else if (types && dep.type) todo.push(dep.type.specifier);
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

Deno.test("each book script loads at start no more than its target, and no extra", async () => {
  const figures: string[] = [];
  for (const [script, most] of Object.entries(LOADED_AT_START)) {
    const files = await loadedAtStart(`scripts/${script}`);
    const extras = files.filter((file) => /^(lib\/extras|server)\//.test(file));
    assert.deepEqual(extras, [], `${script} loads an extra, or server/, at start`);
    let lines = 0;
    for (const file of files) lines += lineCount(await read(file));
    figures.push(`${script} ${lines} (target ${most.target})`);
    const limit = most.today ?? most.target;
    assert.ok(lines <= limit, `${script} loads ${lines} lines at start, more than ${limit}`);
  }
  console.log(`lines loaded at start: ${figures.join(", ")}`);
});

Deno.test("every book script but the V6 aliases makes its own socket calls", async () => {
  const calls: Record<string, RegExp[]> = {
    "tsTserv.ts": [/Deno\.listen\(/, /await accept\(\)/, /client\.read\(/, /client\.write\(/],
    "tsTclnt.ts": [/Deno\.connect\(/, /server\.request\(/],
    "tsTclntSS.ts": [/Deno\.connect\(/],
    // Issue 25: over AF_UNIX, receiving also answers what waited on a socket given up on, so it
    // goes through Replies; issue 26 gives the lesson its own socket.receive() back.
    "tsUserv.ts": [/Deno\.listenDatagram\(/, /replies\.receive\(/, /socket\.send\(/],
    "tsUclnt.ts": [/Deno\.listenDatagram\(/, /socket\.receive\(/, /socket\.send\(/],
  };
  for (const [script, patterns] of Object.entries(calls)) {
    const source = await read(`scripts/${script}`);
    for (const pattern of patterns) assert.match(source, pattern, script);
  }
});

Deno.test("lib/'s core is small, is what the book scripts load, and loads extras only dynamically", async () => {
  const core = await sources("lib/");
  const total = [...core.values()].reduce((sum, lines) => sum + lines, 0);
  console.log(`lib/'s top-level files: ${total} lines (target ${CORE_LINES.target})`);
  const most = CORE_LINES.today;
  assert.ok(total <= most, `lib/'s top-level files are ${total} lines, more than ${most}`);
  const used = new Set<string>();
  for (const script of [...BOOK_SCRIPTS, "tsUservSS.ts"]) {
    for (const file of await loadedAtStart(`scripts/${script}`, true)) used.add(file);
  }
  for (const file of [...core.keys(), `scripts/tsUservSS.ts`]) {
    if (file.startsWith("lib/")) {
      assert.ok(used.has(file), `no script of ours uses ${file} on its default path`);
    }
    const graph = await moduleGraph(file);
    for (const dep of graph.get(new URL(file, root).href)?.dependencies ?? []) {
      const target = dep.code?.specifier.slice(root.href.length) ?? "";
      if (/^(lib\/extras|server)\//.test(target)) {
        assert.ok(dep.isDynamic, `${file} imports ${target} statically`);
      }
    }
  }
});

Deno.test("imports go down only: nothing in scripts/, lib/ or server/ imports tools/, bench/ or tests/; lib/ reaches server/ only when a flag asks; server/ never reads flags", async () => {
  const files = [
    ...(await sources("scripts/")).keys(),
    ...(await sources("lib/")).keys(),
    ...(await sources("lib/extras/")).keys(),
    ...(await sources("server/")).keys(),
  ];
  for await (const entry of Deno.readDir(new URL("lib/", root))) {
    if (entry.name.endsWith("_test.ts")) files.push(`lib/${entry.name}`);
  }
  for (const file of files) {
    const source = await read(file);
    for (const [imported, path] of source.matchAll(/(?:from|import\() ?"([^"]+)"/g)) {
      const target = new URL(path, new URL(file, root)).href.slice(root.href.length);
      if (path.startsWith("node:") || path.startsWith("npm:")) continue;
      assert.match(target, /^(lib|scripts|server)\//, `${file} imports ${path}`);
      if (file.startsWith("lib/") && !target.startsWith("lib/")) {
        // (Until the lessons leave TLS, Unix sockets and workers to server/ alone: issue 26.)
        assert.match(target, /^server\//, `${file} imports ${path}`);
        assert.ok(imported.startsWith("import("), `${file} imports ${path} statically`);
      }
      if (file.startsWith("server/")) {
        assert.match(target, /^(lib|server)\//, `${file} imports ${path}`);
        // Only its commands read a command line; the library takes values.
        if (!["server/tsd.ts", "server/client.ts"].includes(file)) {
          assert.notEqual(target, "lib/flags.ts", `${file} reads flags: it takes values instead`);
        }
      }
    }
  }
});

Deno.test("no import circles among the scripts and lib/", async () => {
  const edges = new Map<string, string[]>();
  const roots = [...BOOK_SCRIPTS, "tsUservSS.ts"].map((script) => `scripts/${script}`);
  for (const path of [...roots, "bench/tsLoad.ts"]) {
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
  const readme = await read("README.md");
  const rows = [...readme.matchAll(/^\| `((?:extras\/|server\/)?\w+\.ts)` +\| +(\d+) \|/gm)];
  const files = new Map([
    ...await sources("lib/"),
    ...await sources("lib/extras/"),
    ...await sources("server/"),
  ]);
  assert.deepEqual(
    new Map(rows.map(([, file, lines]) => [file.replace(/^(?!server\/)/, "lib/"), Number(lines)])),
    files,
    "the tables' files and line counts",
  );
  const sum = (folder: string) =>
    [...files].filter(([file]) => file.replace(/[^/]+$/, "") === folder)
      .reduce((total, [, lines]) => total + lines, 0);
  const core = readme.match(/the core \(([\d,]+) lines, tests aside\)/);
  assert.ok(core, "the README states the core's size");
  assert.equal(Number(core[1].replace(",", "")), sum("lib/"));
  const extras = readme.match(/the extras \(([\d,]+) lines\)/);
  assert.ok(extras, "the README states the extras' size");
  assert.equal(Number(extras[1].replace(",", "")), sum("lib/extras/"));
  const server = readme.match(/And `server\/` \(([\d,]+) lines\)/);
  assert.ok(server, "the README states server/'s size");
  assert.equal(Number(server[1].replace(",", "")), sum("server/"));
});

Deno.test("tsTserv.ts shows the book's constants and the stamp in plain sight", async () => {
  const source = await read("scripts/tsTserv.ts");
  assert.match(source, /^const PORT = 21567;$/m);
  assert.match(source, /^const BUFSIZ = 1024;$/m);
  assert.match(
    source,
    /client\.write\(reply\.stamped\(n\)\); \/\/ '\[%s\] %s' % \(ctime\(\), data\)/,
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
