import assert from "node:assert/strict";
import { LineReader, Stopping, StreamRequestHandler, TcpServer } from "./socket_server.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function pair() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  listener.close();
  return { client, server };
}

Deno.test("LineReader.readline() keeps line endings, joins reads and returns the rest at EOF", async () => {
  const { client, server } = await pair();
  const reader = new LineReader(server, 4, new AbortController().signal);
  await client.write(bytes("one\r\ntw"));
  assert.equal(text(await reader.readline()), "one\r\n");
  await client.write(bytes("o\nlast"));
  assert.equal(text(await reader.readline()), "two\n");
  client.closeWrite();
  assert.equal(text(await reader.readline()), "last");
  assert.equal((await reader.readline()).length, 0);
  client.close();
  server.close();
});

Deno.test("LineReader.readline() throws Stopping when the server stops first", async () => {
  const { client, server } = await pair();
  const controller = new AbortController();
  const reading = new LineReader(server, 1024, controller.signal).readline();
  controller.abort();
  await assert.rejects(reading, Stopping);
  server.close();
  client.close();
});

Deno.test("TcpServer runs setup, handle and finish, and goes on after a handler fails", async () => {
  const calls: string[] = [];
  class Handler extends StreamRequestHandler {
    override setup() {
      calls.push("setup");
    }
    override async handle() {
      const line = await this.rfile.readline();
      calls.push(`handle ${text(line).trim()}`);
      if (text(line).startsWith("fail")) throw new Error("handler failed on purpose");
      await this.write(line);
    }
    override finish() {
      calls.push("finish");
    }
  }
  const server = new TcpServer({ hostname: "127.0.0.1", port: 0, quiet: true }, Handler);
  const errors: string[] = [];
  server.handleError = (err) => errors.push((err as Error).message);
  const controller = new AbortController();
  const serving = server.serveForever(controller.signal);
  for (const line of ["fail\n", "ok\n"]) {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.address.port });
    await conn.write(bytes(line));
    const got = new Uint8Array(16);
    const n = await conn.read(got);
    if (line === "ok\n") assert.equal(text(got.subarray(0, n!)), "ok\n");
    else assert.equal(n, null);
  }
  controller.abort();
  await serving;
  assert.deepEqual(calls, ["setup", "handle fail", "finish", "setup", "handle ok", "finish"]);
  assert.deepEqual(errors, ["handler failed on purpose"]);
});
