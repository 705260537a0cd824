import assert from "node:assert/strict";
import { STAMP_LENGTH, stampReply } from "../lib/timestamp.ts";
import { ReplyBuffer } from "./reply_buffer.ts";

Deno.test("ReplyBuffer: the stamp in front of the bytes read, the same as stampReply()", () => {
  const reply = new ReplyBuffer(8);
  assert.equal(reply.data.length, 8);
  const t = new Date(2020, 5, 4, 19, 56, 18).getTime();
  const text = (n: number, ms: number) => new TextDecoder().decode(reply.stamped(n, ms));
  reply.data.set(bytes("hello"));
  assert.deepEqual(reply.stamped(5, t), stampReply(bytes("hello"), t));
  reply.data.set(bytes("hi\n")); // the next read, shorter: only its bytes are in the reply
  assert.equal(text(3, t + 999), "[Thu Jun  4 19:56:18 2020] hi\n");
  assert.equal(text(3, t + 1000), "[Thu Jun  4 19:56:19 2020] hi\n"); // a new second
  reply.data.set(new Uint8Array(8).fill(0xff)); // any bytes, a full buffer
  assert.deepEqual(reply.stamped(8, t).subarray(STAMP_LENGTH), new Uint8Array(8).fill(0xff));
  assert.equal(text(0, t), "[Thu Jun  4 19:56:18 2020] ");
});
const bytes = (text: string) => new TextEncoder().encode(text);
