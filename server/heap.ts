/**
 * Gives memory back after a burst. V8 runs a full collection only as its heap nears a limit it
 * sets from the heap's size, and frees pages to the system only after one: the garbage that
 * 5,000 clients leave (their connections' objects, their reads) stayed in a server that then had
 * nothing to do, 100 MiB and more, for good. {@linkcode collectWhenGrown} looks at the heap
 * every few seconds and collects it once it has grown by a bound and the server is quiet; V8 then
 * hands free pages back.
 *
 * @module
 */

const MiB = 1 << 20;

/** How often the heap is looked at, how much it may grow, and what a quiet server is. */
export interface HeapOptions {
  everyMs?: number; // 5,000
  growth?: number; // bytes the heap may grow by, the server quiet, before it is collected (16 MiB)
  quiet?: number; // most bytes allocated from one look to the next, when quiet (16 MiB)
  collected?: (from: number, to: number) => void; // after each collection: the heap's bytes
}

/** V8's `gc()`, and the bytes it has allocated so far. */
interface Heap {
  gc?: (options: object) => void;
  allocated(): number;
}

/**
 * The heap's figures and `gc()`, as `--expose-gc` gives it, without the flag on the command
 * line. Loaded once the heap has first grown: its modules cost some ms, and `gc()`'s context
 * some MiB.
 */
async function loadHeap(): Promise<Heap> {
  const [v8, vm] = await Promise.all([import("node:v8"), import("node:vm")]);
  v8.setFlagsFromString("--expose-gc"); // a context made from now on has gc(): so Node's users do
  const gc: unknown = vm.runInNewContext("gc");
  return {
    gc: typeof gc === "function" ? gc as Heap["gc"] : undefined,
    // Not in Node's types: V8 has it (15.0 in Deno 2.9.6); if it went, heap_test.ts would fail.
    allocated: () =>
      (v8.getHeapStatistics() as { total_allocated_bytes?: number })
        .total_allocated_bytes ?? NaN,
  };
}

/**
 * Collects the heap once it has grown by `growth` since it was last collected and the server is
 * quiet: it allocated less than `quiet` since the last look (every `everyMs`). A busy server is
 * left to V8: its young generation grows to what the load works in, and V8's own collections,
 * which the load keeps running, come in small steps where this one stops all for tens of ms
 * (10,000 clients connected: 60-110 ms). The look does not keep the process alive. Dispose of it
 * to stop it.
 */
export function collectWhenGrown(options: HeapOptions = {}): Disposable {
  const { everyMs = 5_000, growth = 16 * MiB, quiet = 16 * MiB } = options;
  let heap: Promise<Heap> | undefined;
  let collected = Deno.memoryUsage().heapTotal;
  let allocated = NaN; // so far, at the last look: unknown (busy) until the heap is loaded
  const look = async () => {
    const { heapTotal } = Deno.memoryUsage();
    collected = Math.min(collected, heapTotal); // V8 may have collected it itself
    if (heapTotal - collected < growth && !heap) return;
    const { gc, allocated: allocatedNow } = await (heap ??= loadHeap());
    const allocatedSince = allocated;
    allocated = allocatedNow();
    const busy = !(allocated - allocatedSince < quiet); // NaN (the first look) is busy
    if (busy || heapTotal - collected < growth) return;
    // "last-resort": collect until nothing more is freed, and give free pages back now.
    gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
    collected = Deno.memoryUsage().heapTotal;
    allocated = allocatedNow();
    options.collected?.(heapTotal, collected);
  };
  // Should V8's flag, context or gc() fail, the server serves on with the heap left to V8.
  const timer = setInterval(
    () => look().catch(() => clearInterval(timer)),
    everyMs,
  );
  Deno.unrefTimer(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
