import assert from "node:assert/strict";
import { attempt } from "./cli.ts";
import { Failure } from "./command.ts";
import { explained, explainNetError, loadExtra } from "./explain.ts";

// attempt() says what failed; explained(), as fatal() calls it, says why in words.
const listenTcp = (hostname: string, port: number) => {
  try {
    return attempt("listen on", { hostname, port }, () => Deno.listen({ hostname, port }));
  } catch (err) {
    throw explained(err);
  }
};
const connectTcp = (hostname: string, port: number) =>
  attempt("connect to", { hostname, port }, () => Deno.connect({ hostname, port }))
    .catch((err) => Promise.reject(explained(err)));

Deno.test("attempt() explains a port in use", () => {
  using first = listenTcp("127.0.0.1", 0);
  assert.throws(() => listenTcp("127.0.0.1", first.addr.port), (err: unknown) => {
    assert.ok(err instanceof Failure);
    assert.match(err.message, /^Cannot listen on 127\.0\.0\.1:\d+: the port is already in use/);
    return true;
  });
});

Deno.test("attempt() of Deno.connect() resolves a name and explains a refused connection", async () => {
  const port = (() => {
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return probe.addr.port;
  })();
  await assert.rejects(
    connectTcp("localhost", port),
    /^Failure: Cannot connect to localhost:\d+: connection refused \(is the server running\?\)$/,
  );
  // With the test task's leave, loopback only, Deno's permission check answers for other
  // names; with -A (a copy's `deno test -A lib/`), the resolver does: .invalid is never a host.
  const granted = (await Deno.permissions.query({ name: "net", host: "example.invalid" }))
    .state === "granted";
  await assert.rejects(
    connectTcp("example.invalid", port),
    new RegExp(
      `^Failure: Cannot connect to example\\.invalid:${port}: ` +
        (granted
          ? `unknown host "example\\.invalid"$`
          : `network access to example\\.invalid:${port} was not granted ` +
            `\\(run with --allow-net=example\\.invalid:${port}, or -N\\)$`),
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

Deno.test("loadExtra() says in one line what a copy without lib/extras/ or server/ lacks", async () => {
  await assert.rejects(
    loadExtra("--tls-cert", () => import("./extras/" + "missing.ts")),
    (err: unknown) => {
      assert.ok(err instanceof Failure);
      assert.match(
        err.message,
        /^--tls-cert needs \/.*\/lib\/extras\/missing\.ts, which this copy lacks \(copy lib\/extras\/ too\)$/,
      );
      return true;
    },
  );
  await assert.rejects(
    loadExtra("--unix", () => import("../server/" + "missing.ts")),
    /^Failure: --unix needs \/.*\/server\/missing\.ts, which this copy lacks \(copy server\/ too\)$/,
  );
  await assert.rejects(
    loadExtra("--x", () => Promise.reject(new Error("other"))),
    /^Error: other$/,
  );
});
