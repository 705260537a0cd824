import assert from "node:assert/strict";
import { collectWhenGrown } from "./heap.ts";

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Objects that live long enough to reach V8's old generation, as a burst's connections do. */
function burst(count: number): { id: number; name: string }[] {
  return Array.from({ length: count }, (_, id) => ({ id, name: `client ${id}` }));
}

/** Waits up to `ms` for `done()`. */
async function until(done: () => boolean, ms: number): Promise<void> {
  for (const start = Date.now(); !done() && Date.now() - start < ms;) await sleep(20);
}

Deno.test("collectWhenGrown() collects a quiet heap that a burst grew, and frees its pages", async () => {
  const collections: [number, number][] = [];
  using _heap = collectWhenGrown({
    everyMs: 100,
    growth: 8 * MiB,
    quiet: MiB, // in 0.1 s: idle, Deno allocates some KiB
    collected: (from, to) => collections.push([from, to]),
  });
  const start = Deno.memoryUsage().heapTotal;
  let held: unknown[] | undefined = burst(500_000);
  const grown = Deno.memoryUsage().heapTotal;
  assert.ok(grown - start > 16 * MiB, `the burst grew the heap by ${(grown - start) / MiB} MiB`);
  held = undefined; // all garbage now: V8 alone keeps it until its heap nears a limit
  await until(() => collections.length > 0, 3_000);
  const figures = `heap ${start / MiB | 0} -> ${grown / MiB | 0} MiB, collected ${collections}`;
  assert.equal(collections.length, 1, figures);
  assert.ok(collections[0][0] - collections[0][1] >= 16 * MiB, figures);
  assert.ok(Deno.memoryUsage().heapTotal < grown - 16 * MiB, figures);
  assert.equal(held, undefined);
});

Deno.test("collectWhenGrown() leaves a busy heap to V8, and collects it once quiet", async () => {
  const collections: [number, number][] = [];
  using _heap = collectWhenGrown({
    everyMs: 50,
    growth: MiB,
    quiet: MiB, // in 0.05 s: the load below allocates some MiB
    collected: (from, to) => collections.push([from, to]),
  });
  let request: { id: number; line: string } | undefined;
  for (const start = Date.now(); Date.now() - start < 1_000;) {
    // Requests that each die young, as a load's do: the young generation grows, the old does not.
    for (let id = 0; id < 100_000; id++) request = { id, line: `request ${id}` };
    await sleep(0);
  }
  assert.ok(request);
  assert.deepEqual(
    collections,
    [],
    `collected under load, the young generation shrunk: ${collections}`,
  );
  await until(() => collections.length > 0, 3_000);
  assert.equal(collections.length, 1, "collected once the load ended");
});
