/**
 * The README's marked blocks: the fenced block after a `<!-- NAME -->` line, which a test
 * checks against what a run shows, or runs as the README writes it.
 *
 * @module
 */

/** Where the text of the fenced block after `<!-- name -->` starts and ends. */
function block(readme: string, name: string): [number, number] {
  const marker = readme.indexOf(`<!-- ${name} -->`);
  if (marker === -1) throw new Error(`README.md has no <!-- ${name} --> block`);
  const start = readme.indexOf("\n", readme.indexOf("```", marker)) + 1;
  return [start, readme.indexOf("\n```", start - 1)];
}

/** The text of the README's block `name` (see {@linkcode block}). */
export function readBlock(readme: string, name: string): string {
  const [start, end] = block(readme, name);
  return readme.slice(start, Math.max(start, end));
}

/** `readme` with the text of its block `name` replaced by `text`. */
export function writeBlock(readme: string, name: string, text: string): string {
  const [start, end] = block(readme, name);
  return readme.slice(0, start) + text + readme.slice(end);
}
