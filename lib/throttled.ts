/**
 * A line said at most once a second, however often what it tells of happens, for what a flood
 * of clients could otherwise make a server say without end: connections refused at the cap,
 * unexpected errors, replies dropped.
 *
 * @module
 */

/**
 * A line said at most once every `ms`: it says how many times what it tells of happened since
 * it was last said. (What happens in the last `ms` before things go quiet is counted in the
 * next line, if there is one.)
 */
export class Throttled {
  #count = 0;
  #saidAt = -Infinity;

  constructor(readonly say: (line: string) => void, readonly ms = 1000) {}

  /** Counts one more time, and says `line(count)` unless it was said less than `ms` ago. */
  note(line: (count: number) => string): void {
    this.#count++;
    const now = performance.now();
    if (now - this.#saidAt < this.ms) return;
    this.say(line(this.#count));
    this.#count = 0;
    this.#saidAt = now;
  }
}
