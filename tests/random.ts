/**
 * The fuzz tests' seeded random numbers: a failing case names its seed, and `FUZZ_SEED=n` runs
 * the same cases again.
 *
 * @module
 */

/** A seeded generator (mulberry32), so that a failing case can be run again. */
export function random(seed = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000)) {
  let state = seed;
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: ArrayLike<T>): T => items[below(items.length)];
  const bytes = (length: number, except?: number) =>
    Uint8Array.from({ length }, () => {
      let byte: number;
      do byte = below(256); while (byte === except);
      return byte;
    });
  /** `data` cut at random points. */
  const split = (data: Uint8Array) => {
    const cuts = Array.from({ length: below(6) }, () => below(data.length + 1)).sort((a, b) =>
      a - b
    );
    return [0, ...cuts].map((cut, i, all) => data.subarray(cut, all[i + 1] ?? data.length));
  };
  return { seed, next, below, pick, bytes, split };
}
