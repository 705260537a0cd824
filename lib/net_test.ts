import assert from "node:assert/strict";
import { accepted, connectTcp, formatAddress, hostPort, listenTcp, udpAddressOf } from "./net.ts";
import { explainNetError, Failure } from "./errors.ts";

Deno.test("formatAddress() shows IPv6 in brackets and IPv4-mapped addresses as IPv4", () => {
  const tcp = (hostname: string, port: number): Deno.NetAddr => ({
    transport: "tcp",
    hostname,
    port,
  });
  assert.equal(formatAddress(tcp("127.0.0.1", 80)), "127.0.0.1:80");
  assert.equal(formatAddress(tcp("::ffff:127.0.0.1", 5)), "127.0.0.1:5");
  assert.equal(formatAddress(tcp("::1", 21567)), "[::1]:21567");
  assert.equal(hostPort("localhost", 1), "localhost:1");
});

Deno.test("listenTcp() explains a port in use", () => {
  using first = listenTcp("127.0.0.1", 0);
  assert.throws(() => listenTcp("127.0.0.1", first.addr.port), (err: unknown) => {
    assert.ok(err instanceof Failure);
    assert.match(err.message, /^Cannot listen on 127\.0\.0\.1:\d+: the port is already in use/);
    return true;
  });
});

Deno.test("connectTcp() resolves a name and explains a refused connection", async () => {
  const port = (() => {
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return probe.addr.port;
  })();
  await assert.rejects(
    connectTcp("localhost", port),
    /^Failure: Cannot connect to localhost:\d+: connection refused \(is the server running\?\)$/,
  );
  // The tests may reach loopback only, so Deno's permission check answers for other names.
  await assert.rejects(
    connectTcp("example.invalid", port),
    new RegExp(
      `^Failure: Cannot connect to example\\.invalid:${port}: network access to ` +
        `example\\.invalid:${port} was not granted \\(run with --allow-net=example\\.invalid:${port}, or -N\\)$`,
    ),
  );
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using conn = await connectTcp("localhost", listener.addr.port);
  assert.equal(conn.remoteAddr.hostname, "127.0.0.1");
});

Deno.test("explainNetError() names a missing IPv6 stack and leaves other errors alone", () => {
  const noV6 = explainNetError(
    new Deno.errors.AddrNotAvailable("x"),
    "connect to",
    "::1",
    "[::1]:5",
  );
  assert.equal(
    (noV6 as Error).message,
    "Cannot connect to [::1]:5: IPv6 is not available on this machine",
  );
  const other = new TypeError("not a network error");
  assert.equal(explainNetError(other, "listen on", "x", "x:1"), other);
});

Deno.test("accepted() yields connections and ends when the listener closes", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const conn of accepted(listener)) seen.push(conn);
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

Deno.test("udpAddressOf() picks a name's IPv4 address, and explains a failure", async () => {
  assert.equal(await udpAddressOf("localhost", 1), "127.0.0.1");
  assert.equal(await udpAddressOf("::1", 1), "::1");
  // The tests may reach loopback only; tests/errors_test.ts tries an unknown host end to end.
  await assert.rejects(
    udpAddressOf("example.invalid", 1),
    /^Failure: Cannot send to example\.invalid:1: network access to example\.invalid was not granted \(run with --allow-net=example\.invalid, or -N\)$/,
  );
});
