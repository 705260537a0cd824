import assert from "node:assert/strict";
import { formatAddress, hostPort } from "../lib/command.ts";
import { explained } from "../lib/explain.ts";
import { udpAddressOf } from "./net.ts";

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

Deno.test("udpAddressOf() picks a name's IPv4 address, and explains a failure", async () => {
  assert.equal(await udpAddressOf("localhost", 1), "127.0.0.1");
  assert.equal(await udpAddressOf("::1", 1), "::1");
  // The test task's leave is loopback only, so Deno's permission check answers for other
  // names; with -A (a copy's `deno test -A server/`), the resolver does: .invalid is no host.
  const granted = (await Deno.permissions.query({ name: "net", host: "example.invalid" }))
    .state === "granted";
  await assert.rejects(
    udpAddressOf("example.invalid", 1).catch((err) => Promise.reject(explained(err))),
    granted
      ? /^Failure: Cannot send to example\.invalid:1: unknown host "example\.invalid"$/
      : /^Failure: Cannot send to example\.invalid:1: network access to example\.invalid was not granted \(run with --allow-net=example\.invalid, or -N\)$/,
  );
});
