import assert from "node:assert/strict";
import { concat, lines, writeAll } from "./prompt.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks);
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const line of lines(stream)) out.push(line);
  return out;
}

Deno.test("lines() splits on \\n only, across chunks, and keeps the last line", async () => {
  const got = await collect(streamOf(bytes("ab"), bytes("c\nd\r\n\n"), bytes("e\xff"), bytes("f")));
  assert.deepEqual(got, [bytes("abc"), bytes("d\r"), bytes(""), bytes("e\xff" + "f")]);
});

Deno.test("lines() passes bytes that are not UTF-8 through unchanged", async () => {
  const raw = new Uint8Array([0xff, 0x00, 0xc3, 0x0a, 0xa9, 0x0a]);
  assert.deepEqual(await collect(streamOf(raw)), [raw.slice(0, 3), raw.slice(4, 5)]);
});

Deno.test("writeAll() keeps writing until a short-writing writer has taken everything", async () => {
  const taken: number[] = [];
  const writer = {
    write(data: Uint8Array) {
      taken.push(...data.subarray(0, 3));
      return Promise.resolve(Math.min(3, data.length));
    },
  };
  await writeAll(writer, bytes("0123456789"));
  assert.deepEqual(new Uint8Array(taken), bytes("0123456789"));
});

Deno.test("concat() joins two buffers", () => {
  assert.deepEqual(concat(bytes("ab"), bytes("c")), bytes("abc"));
  assert.deepEqual(concat(new Uint8Array(0), bytes("c")), bytes("c"));
});

Deno.test("concat() gives a buffer of its own, never one of its arguments, which may be reused", () => {
  const read = bytes("PROXY");
  const joined = concat(new Uint8Array(0), read);
  read.fill(0); // the caller reads into it again
  assert.deepEqual(joined, bytes("PROXY"));
  assert.deepEqual(concat(bytes("ab"), new Uint8Array(0)), bytes("ab"));
});
