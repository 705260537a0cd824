/**
 * The shape a reader copies: `lib/` holds only what the book's scripts share, the README's table
 * of it is true, and the scripts show the book's lines in plain sight.
 */

import assert from "node:assert/strict";
import { BOOK_SCRIPTS } from "../tools/scripts.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

/** The files of `lib/` that are not tests, with their line counts. */
async function libFiles(): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const entry of Deno.readDir(new URL("lib/", root))) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    files.set(entry.name, (await read(`lib/${entry.name}`)).split("\n").length - 1);
  }
  return files;
}

Deno.test("every file in lib/ is imported by one of the book's scripts, and imports only lib/", async () => {
  const imported = new Set<string>();
  for (const script of BOOK_SCRIPTS) {
    for (
      const [, file] of (await read(`scripts/${script}`)).matchAll(/from "\.\.\/lib\/(\w+\.ts)"/g)
    ) {
      imported.add(file);
    }
  }
  for (const file of (await libFiles()).keys()) {
    assert.ok(imported.has(file), `no book script imports lib/${file}`);
    const source = await read(`lib/${file}`);
    assert.doesNotMatch(source, /from "\.\.\//, `lib/${file} imports from outside lib/`);
  }
});

Deno.test("the README's table of lib/ lists each file with its line count, and their total", async () => {
  const readme = await read("README.md");
  const rows = [...readme.matchAll(/^\| `(\w+\.ts)` +\| +(\d+) \|/gm)];
  const files = await libFiles();
  assert.deepEqual(
    new Map(rows.map(([, file, lines]) => [file, Number(lines)])),
    files,
    "the table's files and line counts",
  );
  const total = [...files.values()].reduce((sum, lines) => sum + lines, 0);
  const stated = readme.match(/shared by the book's scripts \(([\d,]+) lines, tests aside\)/);
  assert.ok(stated, "the README states lib/'s size");
  assert.equal(Number(stated[1].replace(",", "")), total);
});

Deno.test("tsTserv.ts shows the book's constants and the stamp in plain sight", async () => {
  const source = await read("scripts/tsTserv.ts");
  assert.match(source, /^const PORT = 21567;$/m);
  assert.match(source, /^const BUFSIZ = 1024;$/m);
  assert.match(source, /client\.write\(stampReply\(/);
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
