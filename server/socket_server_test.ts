import assert from "node:assert/strict";
import { Session } from "./connections.ts";
import {
  Ended,
  LineReader,
  LineTooLong,
  StreamRequestHandler,
  StreamServer,
} from "./socket_server.ts";

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
  const reader = new LineReader(new Session(server), { bufsiz: 4 });
  await client.write(bytes("one\r\ntw"));
  assert.equal(text(await reader.readline()), "one\r\n");
  await client.write(bytes("o\n"));
  assert.equal(text(await reader.readline()), "two\n");
  await client.write(bytes("a\nb\nc\n" + "x".repeat(50) + "\nlast"));
  for (const line of ["a\n", "b\n", "c\n", "x".repeat(50) + "\n"]) {
    assert.equal(text(await reader.readline()), line);
  }
  client.closeWrite();
  assert.equal(text(await reader.readline()), "last");
  assert.equal((await reader.readline()).length, 0);
  client.close();
  server.close();
});

Deno.test("LineReader.readline() takes a line of maxLine bytes, and throws for a longer one", async () => {
  for (
    const [sent, ok] of [["x".repeat(9) + "\n", true], ["x".repeat(10) + "\n", false]] as const
  ) {
    const { client, server } = await pair();
    const reader = new LineReader(new Session(server), { bufsiz: 3, maxLine: 10 });
    await client.write(bytes(sent));
    if (ok) assert.equal(text(await reader.readline()), sent);
    else await assert.rejects(reader.readline(), LineTooLong);
    client.close();
    server.close();
  }
  // Without a newline at all, it stops reading once maxLine bytes have come.
  const { client, server } = await pair();
  const reader = new LineReader(new Session(server), { bufsiz: 1024, maxLine: 100 });
  const flood = client.write(new Uint8Array(4096).fill(0x41)).catch(() => {});
  await assert.rejects(reader.readline(), /line longer than 100 bytes/);
  server.close();
  await flood;
  client.close();
});

Deno.test("LineReader.readline() throws Ended when the server ends the connection first", async () => {
  const { client, server } = await pair();
  const session = new Session(server);
  const reading = new LineReader(session).readline();
  session.end("the server is stopping");
  await client.write(bytes("too late\n"));
  await assert.rejects(reading, Ended);
  assert.equal(await client.read(new Uint8Array(8)), null, "the client gets EOF");
  server.close();
  client.close();
});

Deno.test("StreamServer runs setup, handle and finish, and goes on after a handler fails", async () => {
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
  const address = { hostname: "127.0.0.1", port: 0 };
  const server = await StreamServer.listen({ address, quiet: true }, Handler);
  const errors: string[] = [];
  server.handleError = (err: unknown) => errors.push((err as Error).message);
  const controller = new AbortController();
  const serving = server.serveForever(controller.signal);
  for (const line of ["fail\n", "ok\n"]) {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: (server.address as Deno.NetAddr).port,
    });
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

/** A stream server whose handler echoes one line, refusing clients `verifyRequest` refuses. */
class LineEcho extends StreamRequestHandler {
  override async handle() {
    await this.write(await this.rfile.readline());
  }
}

Deno.test("StreamServer: verifyRequest() refuses a client before a handler is made, and maxConns caps", async () => {
  const address = { hostname: "127.0.0.1", port: 0 };
  const server = await StreamServer.listen({ address, quiet: true, maxConns: 1 }, LineEcho);
  const port = (server.address as Deno.NetAddr).port;
  let refuse = true;
  server.verifyRequest = () => !refuse;
  const controller = new AbortController();
  const serving = server.serveForever(controller.signal);
  const roundTrip = async (conn: Deno.Conn) => {
    await conn.write(bytes("hi\n")).catch(() => {});
    const got = new Uint8Array(8);
    const n = await conn.read(got).catch(() => null);
    return n === null ? null : text(got.subarray(0, n));
  };
  {
    using refused = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await roundTrip(refused), null, "refused: closed at once");
  }
  refuse = false;
  using first = await Deno.connect({ hostname: "127.0.0.1", port }); // held open: the one allowed
  await new Promise((resolve) => setTimeout(resolve, 50)); // accepted by now
  {
    using beyond = await Deno.connect({ hostname: "127.0.0.1", port });
    assert.equal(await roundTrip(beyond), null, "beyond maxConns: closed at once");
  }
  assert.equal(await roundTrip(first), "hi\n");
  controller.abort();
  await serving;
  await server.shutdown();
});

Deno.test("StreamServer listens with the backlog it is given (tcpBacklog: Python's request_queue_size)", async () => {
  const address = { hostname: "127.0.0.1", port: 0, tcpBacklog: 7 };
  const server = await StreamServer.listen({ address, quiet: true }, LineEcho);
  const port = (server.address as Deno.NetAddr).port;
  try {
    // `ss -tln`: for a listening socket, Send-Q is the backlog.
    const { stdout } = await new Deno.Command("ss", { args: ["-tln", `sport = :${port}`] })
      .output();
    const row = text(stdout).split("\n").find((line) => line.includes(`:${port}`));
    assert.match(row ?? "", /^LISTEN\s+0\s+7\s/, text(stdout));
  } finally {
    server.listener.close();
    await server.shutdown();
  }
});
