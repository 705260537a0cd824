import assert from "node:assert/strict";
import { accepted, formatAddress, udpAddressOf } from "./net.ts";
import { hostPort } from "./errors.ts";

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
