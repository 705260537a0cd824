import assert from "node:assert/strict";
import { acceptor, Connections, Session, whenStopped } from "./connections.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A listener and a way to get connected pairs from it: [client, server]. */
function loopback() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    async pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
      const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      return [client, await listener.accept()];
    },
    [Symbol.dispose]: () => listener.close(),
  };
}

/** Everything `conn` receives until EOF; a reset fails the test. */
async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buffer = new Uint8Array(65536);
  let n: number | null;
  while ((n = await conn.read(buffer)) !== null) chunks.push(...buffer.subarray(0, n));
  return Uint8Array.from(chunks);
}

/** A server's connections, with what they log. */
function served(idleTimeoutMs = 0) {
  const logged: string[] = [];
  const connections = new Connections({ idleTimeoutMs, log: (line) => logged.push(line) });
  return { logged, connections };
}

/** An echo loop, the shape of every server's loop. */
async function echo(session: Session): Promise<void> {
  const buffer = new Uint8Array(1024);
  let n: number | null;
  while ((n = await session.read(buffer)) !== null) await session.write(buffer.slice(0, n));
}

Deno.test("shutdown() ends idle connections with EOF, and lets the reply in flight go out whole", async () => {
  using net = loopback();
  const { connections } = served();
  const [idleClient, idle] = await net.pair();
  const [busyClient, busy] = await net.pair();
  connections.serve(idle, echo);
  const reply = new Uint8Array(4 << 20).fill(0x42); // more than the socket buffers hold
  let writing!: () => void;
  const started = new Promise<void>((resolve) => writing = resolve);
  connections.serve(busy, async (session) => {
    const done = session.write(reply);
    writing();
    await done;
    await echo(session);
  });
  await started;
  const stopping = connections.shutdown();
  const [idleGot, busyGot] = await Promise.all([readAll(idleClient), readAll(busyClient)]);
  assert.equal(idleGot.length, 0);
  assert.equal(busyGot.length, reply.length, "the whole reply, then EOF");
  idleClient.close();
  busyClient.close();
  await stopping;
  assert.equal(connections.size, 0);
});

Deno.test("shutdown() closes connections that are still busy at the deadline", async () => {
  using net = loopback();
  const { connections } = served();
  const [client, server] = await net.pair();
  // The client never reads, so this write cannot finish; only closing ends it.
  connections.serve(server, (session) => session.write(new Uint8Array(64 << 20)).catch(() => {}));
  const started = performance.now();
  await connections.shutdown(300);
  const took = performance.now() - started;
  assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  assert.equal(connections.size, 0);
  client.close();
});

Deno.test("an idle connection is ended after the idle timeout, and a busy one is not", async () => {
  using net = loopback();
  const { logged, connections } = served(300);
  const [idleClient, idle] = await net.pair();
  const [chattyClient, chatty] = await net.pair();
  connections.serve(idle, echo);
  connections.serve(chatty, echo);
  const started = performance.now();
  const idleEnded = readAll(idleClient).then(() => performance.now() - started);
  const buffer = new Uint8Array(16);
  while (performance.now() - started < 700) {
    await chattyClient.write(bytes("ping"));
    assert.equal(await chattyClient.read(buffer), 4);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const took = await idleEnded;
  assert.ok(took >= 290 && took < 1000, `ended after ${took} ms`);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /^\.\.\.closing 127\.0\.0\.1:\d+: idle for 0\.3 s$/);
  idleClient.close();
  const stopping = connections.shutdown();
  assert.equal(await chattyClient.read(buffer), null, "a stop ends the chatty one");
  chattyClient.close();
  await stopping;
});

Deno.test("a client that stops reading a reply is cut off after the idle timeout", async () => {
  using net = loopback();
  const { logged, connections } = served(200);
  const [client, server] = await net.pair();
  let failed = "";
  const started = performance.now();
  connections.serve(server, async (session) => {
    // Far more than the socket buffers hold, to a client that never reads.
    await session.write(new Uint8Array(64 << 20)).catch((err) => failed = err.name);
  });
  while (connections.size > 0 && performance.now() - started < 5000) await sleep(20);
  const took = performance.now() - started;
  assert.equal(connections.size, 0);
  assert.ok(took >= 190 && took < 2500, `cut off after ${took} ms`);
  assert.match(failed, /BadResource|Interrupted/);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /idle for 0\.2 s$/);
  client.close();
  await connections.shutdown();
});

Deno.test("Session.setDeadline() ends a connection that takes too long, whatever it sends", async () => {
  using net = loopback();
  const { logged, connections } = served();
  const [client, server] = await net.pair();
  connections.serve(server, (session) => {
    session.setDeadline(200, "too slow");
    return echo(session);
  });
  const started = performance.now();
  const buffer = new Uint8Array(16);
  let n: number | null = 0;
  while (n !== null && performance.now() - started < 3000) {
    await client.write(bytes("x")).catch(() => {}); // a byte at a time, never idle
    n = await client.read(buffer);
  }
  const took = performance.now() - started;
  assert.equal(n, null);
  assert.ok(took >= 190 && took < 1500, `ended after ${took} ms`);
  assert.deepEqual(logged.map((line) => line.replace(/:\d+/, ":PORT")), [
    "...closing 127.0.0.1:PORT: too slow",
  ]);
  client.close();
  await connections.shutdown();
});

Deno.test("close() lets the last reply arrive whole though the client sent more than was read", async () => {
  using net = loopback();
  const { connections } = served();
  const [client, server] = await net.pair();
  const reply = new Uint8Array(1 << 20).fill(0x43);
  connections.serve(server, async (session) => {
    assert.equal(await session.read(new Uint8Array(4)), 4);
    await session.write(reply); // then close, with the rest of the input unread
  });
  await client.write(new Uint8Array(100_000).fill(0x44));
  const got = await readAll(client);
  assert.equal(got.length, reply.length);
  client.close();
  await connections.shutdown();
});

Deno.test("abort() closes at once, and a task's unexpected error closes only its connection", async () => {
  using net = loopback();
  const { connections } = served();
  const [client, server] = await net.pair();
  const errors: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    connections.serve(server, () => Promise.reject(new Error("a bug")));
    const buffer = new Uint8Array(8);
    const n = await client.read(buffer).catch((err) => err);
    assert.ok(n === null || n instanceof Deno.errors.ConnectionReset, String(n));
    await connections.shutdown();
  } finally {
    console.error = consoleError;
  }
  assert.equal(errors.length, 1);
  assert.match(String((errors[0] as unknown[])[0]), /unexpected error serving 127\.0\.0\.1:\d+/);
  client.close();
});

Deno.test("acceptor()'s accept() gives connections, then null when the listener closes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Deno.Conn[] = [];
  const accept = acceptor(listener);
  const loop = (async () => {
    let conn: Deno.Conn | null;
    while ((conn = await accept()) !== null) seen.push(conn);
  })();
  using _client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  for (let tries = 0; seen.length === 0 && tries < 400; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 5)); // 2 s at most
  }
  listener.close();
  await loop;
  assert.equal(seen.length, 1);
  seen[0].close();
});

Deno.test("an unexpected error is said with its stack at most once a second, with a count", async () => {
  using net = loopback();
  const warned: string[] = [];
  const connections = new Connections({ warn: (line) => warned.push(line) });
  const clients: Deno.Conn[] = [];
  for (let i = 0; i < 20; i++) {
    const [client, conn] = await net.pair();
    clients.push(client);
    connections.serve(conn, () => Promise.reject(new Error(`bug ${i}`)));
  }
  await sleep(50);
  assert.equal(warned.length, 1, warned.join("\n"));
  assert.match(warned[0], /^unexpected error serving 127\.0\.0\.1:\d+: Error: bug 0\n\s+at /);
  // The other 19 when the second is up: counted, with the latest one's stack.
  await sleep(1100);
  assert.equal(warned.length, 2, warned.join("\n"));
  assert.match(
    warned[1],
    /serving 127\.0\.0\.1:\d+ \(and 18 more in the last second\): Error: bug 19/,
  );
  await connections.shutdown();
  for (const client of clients) client.close();
});

Deno.test("serve() says whether it serves: beyond the cap, it closes the connection at once", async () => {
  using net = loopback();
  const warned: string[] = [];
  const connections = new Connections({ maxConns: 1, warn: (line) => warned.push(line) });
  const [first, conn] = await net.pair();
  assert.equal(connections.serve(conn, echo), true);
  const [second, refused] = await net.pair();
  assert.equal(connections.serve(refused, echo), false);
  assert.deepEqual(await readAll(second), new Uint8Array());
  assert.deepEqual(warned, ["...too many clients (1 at once): closed 1 new connection"]);
  first.close();
  second.close();
  await connections.shutdown();
});

/**
 * A client's connection without a socket, from `hostname` (a Unix socket's client if none), and
 * through a balancer whose PROXY header gave that address: `send()` gives its pending read a
 * byte, and `closed` says whether the server closed it.
 */
function fakeConn(hostname?: string) {
  let pending: { resolve(n: number | null): void; reject(err: Error): void } | undefined;
  const balancer: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.9", port: 40000 };
  const conn = {
    remoteAddr: hostname === undefined
      ? { transport: "unix", path: "" } as Deno.UnixAddr
      : { transport: "tcp", hostname, port: 50000 } as Deno.NetAddr,
    via: hostname === undefined ? undefined : balancer,
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 21567 } as Deno.NetAddr,
    closed: false,
    read: (_buffer: Uint8Array) =>
      new Promise<number | null>((resolve, reject) => pending = { resolve, reject }),
    write: (data: Uint8Array) => Promise.resolve(data.length),
    closeWrite: () => Promise.resolve(),
    close() {
      conn.closed = true;
      pending?.reject(new Deno.errors.BadResource("closed"));
    },
    send: () => pending?.resolve(1),
  };
  return conn;
}

Deno.test("at the cap, a newcomer from another address takes the place of the connection quiet longest of the address holding the most", async () => {
  const warned: string[] = [];
  const logged: string[] = [];
  const connections = new Connections({
    maxConns: 3,
    warn: (line) => warned.push(line),
    log: (line) => logged.push(line),
  });
  // Three from one client behind the balancer; then the first and third send a byte.
  const [a1, a2, a3] = ["192.0.2.1", "192.0.2.1", "192.0.2.1"].map(fakeConn);
  for (const conn of [a1, a2, a3]) assert.equal(connections.serve(conn, echo), true);
  await sleep(400); // a tick of the idle check (every 250 ms): all three quiet since then
  a1.send();
  a3.send();
  await sleep(400); // the next tick sees that the first and third moved
  const b1 = fakeConn("192.0.2.2"); // another client through the same balancer
  assert.equal(connections.serve(b1, echo), true);
  assert.deepEqual([a1.closed, a2.closed, a3.closed], [false, true, false]);
  assert.deepEqual(logged, [
    "...closing 192.0.2.1:50000 via 127.0.0.9:40000: at the cap: quiet longest of the address holding the most (3)",
  ]);
  assert.deepEqual(warned, [
    "...too many clients (3 at once): closed 1 connection quiet longest of 192.0.2.1, which held the most (3), to let others in",
  ]);
  await sleep(0); // the closed one is gone: two of 192.0.2.1, one of 192.0.2.2
  assert.equal(connections.size, 3);
  const a4 = fakeConn("192.0.2.1"); // its address holds the most: the cap is for it
  assert.equal(connections.serve(a4, echo), false);
  assert.equal(a4.closed, true);
  const b2 = fakeConn("192.0.2.2"); // its address holds fewer still: the quieter of a1, a3 goes
  assert.equal(connections.serve(b2, echo), true);
  assert.equal([a1.closed, a3.closed].filter(Boolean).length, 1);
  await sleep(0);
  assert.equal(connections.serve(fakeConn("192.0.2.2"), echo), false, "now it holds the most");
  await connections.shutdown(100);
});

Deno.test("at the cap, a Unix socket's newcomer takes the place of the connection quiet longest: each counts as its own", async () => {
  const warned: string[] = [];
  const connections = new Connections({ maxConns: 2, warn: (line) => warned.push(line) });
  const [u1, u2, u3] = [fakeConn(), fakeConn(), fakeConn()];
  for (const conn of [u1, u2]) assert.equal(connections.serve(conn, echo), true);
  await sleep(400); // a tick of the idle check: both quiet since then
  u1.send();
  await sleep(400); // the next tick sees that the first moved
  assert.equal(connections.serve(u3, echo), true);
  assert.deepEqual([u1.closed, u2.closed, u3.closed], [false, true, false]);
  assert.deepEqual(warned, [
    "...too many clients (2 at once): closed 1 connection quiet longest, to let others in",
  ]);
  await connections.shutdown(100);
});

Deno.test("a task that fails with no error at all still has its connection closed and said", async () => {
  using net = loopback();
  const warned: string[] = [];
  const connections = new Connections({ warn: (line) => warned.push(line) });
  const [client, conn] = await net.pair();
  connections.serve(conn, () => Promise.reject(undefined));
  assert.deepEqual(await readAll(client), new Uint8Array()); // closed, not left open
  assert.equal(connections.size, 0);
  assert.match(warned[0], /^unexpected error serving 127\.0\.0\.1:\d+: undefined$/);
  client.close();
  await connections.shutdown();
});

Deno.test("whenStopped() runs its action on abort, or at once if the signal has aborted", () => {
  const controller = new AbortController();
  let runs = 0;
  whenStopped(controller.signal, () => runs++);
  assert.equal(runs, 0);
  controller.abort();
  assert.equal(runs, 1);
  whenStopped(controller.signal, () => runs++);
  assert.equal(runs, 2);
});
