/**
 * A line said at most once a second, however often what it tells of happens, for what a flood
 * of clients could otherwise make a server say without end: connections refused at the cap or
 * cut over a budget, unexpected errors, replies dropped.
 *
 * @module
 */

/**
 * A line said at most once every `ms`, with how many times what it tells of happened since it
 * was last said: at once after a quiet while, else when the `ms` are up.
 */
export class Throttled {
  #count = 0;
  #line: ((count: number) => string) | undefined; // the latest time's line, said when due
  #saidAt = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly say: (line: string) => void, readonly ms = 1000) {}

  /** Counts one more time; `line(count)` is said now, or once `ms` have passed since the last. */
  note(line: (count: number) => string): void {
    this.#count++;
    this.#line = line;
    if (this.#timer !== undefined) return;
    const wait = this.#saidAt + this.ms - performance.now();
    if (wait <= 0) return this.#sayNow();
    this.#timer = setTimeout(() => this.#sayNow(), wait);
    Deno.unrefTimer(this.#timer); // it alone must not keep a stopping server alive
  }

  /** Says now the line that waits for its time, if one does: at a stop, so that none is lost. */
  flush(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#sayNow();
  }

  #sayNow(): void {
    this.#timer = undefined;
    this.say(this.#line!(this.#count));
    this.#count = 0;
    this.#saidAt = performance.now();
  }
}
