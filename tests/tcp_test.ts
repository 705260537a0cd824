/** End to end: tsTserv, tsTservV6, tsTclnt and tsTclntV6, run as a user runs them. */

import assert from "node:assert/strict";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import {
  assertReplyTo,
  connect,
  denoArgs,
  encoder,
  needsRoot,
  Proc,
  readBytes,
  runScript,
  splitStamp,
  startServer,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";

for (const { name, server: serving, client: talking, listening, clientLog } of TRANSPORTS) {
  Deno.test(`${name}: tsTclnt sends each piped line to tsTserv and prints its reply, until an empty line`, async () => {
    await using server = await startServer("tsTserv.ts", serving.args, "127.0.0.1", serving);
    const client = await runScript(
      "tsTclnt.ts",
      [...(server.port > 0 ? ["--port", String(server.port)] : []), ...talking.args],
      "hello\nwörld\n\nnot sent\n",
      talking,
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> [STAMP] wörld\n> ");
    assert.equal(client.stderr, "");
    const log = (await server.stop()).stdout;
    assert.match(log, new RegExp(`^waiting for connection on ${listening}\\.\\.\\.$`, "m"));
    assert.match(log, new RegExp(`^\\.\\.\\.connected from: ${clientLog}$`, "m"));
  });
}

Deno.test("tsTclnt stops at the end of input, even without a final newline", async () => {
  await using server = await startServer("tsTserv.ts");
  const client = await runScript("tsTclnt.ts", ["-p", String(server.port)], "one\r\ntwo");
  assert.equal(client.code, 0, client.stderr);
  // Like Python's input() on a pipe, only "\n" ends a line: the "\r" goes to the server.
  assert.equal(unstamped(client.stdout), "> [STAMP] one\r\n> [STAMP] two\n> ");
  await server.stop();
});

Deno.test("tsTserv stamps every read of up to --bufsiz bytes", async () => {
  await using server = await startServer("tsTserv.ts", ["--bufsiz", "4"]);
  using conn = await connect(server.port);
  await writeAll(conn, encoder.encode("abcdefghij"));
  const reply = await readBytes(conn, 3 * STAMP_LENGTH + 10);
  assert.equal(unstamped(new TextDecoder().decode(reply)), "[STAMP] abcd[STAMP] efgh[STAMP] ij");
  await server.stop();
});

Deno.test("tsTserv returns a character split across two reads byte for byte", async () => {
  await using server = await startServer("tsTserv.ts");
  using conn = await connect(server.port);
  const e = encoder.encode("é"); // two bytes; the book's Python 3 server dies on the first
  await writeAll(conn, e.subarray(0, 1));
  const first = await readBytes(conn, STAMP_LENGTH + 1);
  await writeAll(conn, e.subarray(1));
  const second = await readBytes(conn, STAMP_LENGTH + 1);
  assert.deepEqual([...splitStamp(first), ...splitStamp(second)], [...e]);
  await server.stop();
});

Deno.test("tsTserv serves many clients at once", async () => {
  await using server = await startServer("tsTserv.ts");
  // The book's server would serve nobody else while this first client stays connected.
  using idle = await connect(server.port);
  const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
  await Promise.all(clients.map(async (conn, i) => {
    for (let round = 0; round < 5; round++) {
      const message = encoder.encode(`client ${i} round ${round}`);
      await writeAll(conn, message);
      assert.deepEqual(splitStamp(await readBytes(conn, STAMP_LENGTH + message.length)), message);
    }
    conn.close();
  }));
  await writeAll(idle, encoder.encode("me too"));
  assert.deepEqual(splitStamp(await readBytes(idle, 33)), encoder.encode("me too"));
  await server.stop();
});

Deno.test("tsTclnt prints a long reply whole, and nothing of it leaks into the next line", async () => {
  await using server = await startServer("tsTserv.ts", ["--bufsiz", "16"]);
  const long = "x".repeat(5000) + "[y]";
  const client = await runScript("tsTclnt.ts", ["-p", String(server.port)], `${long}\nnext\n`);
  assert.equal(client.code, 0, client.stderr);
  const [first, second, last] = client.stdout.split("\n");
  assertReplyTo(encoder.encode(first.slice(2)), encoder.encode(long));
  assert.equal(unstamped(second), "> [STAMP] next");
  assert.equal(last, "> ");
  await server.stop();
});

Deno.test("tsTservV6 answers IPv6 and IPv4 clients, and logs the IPv4 ones as plain IPv4", async () => {
  await using server = await startServer("tsTservV6.ts", [], "::");
  const v6 = await runScript("tsTclntV6.ts", ["-p", String(server.port)], "over v6\n");
  assert.equal(v6.code, 0, v6.stderr);
  assert.equal(unstamped(v6.stdout), "> [STAMP] over v6\n> ");
  const v4 = await runScript(
    "tsTclnt.ts",
    ["-p", String(server.port), "--host", "127.0.0.1"],
    "over v4\n",
  );
  assert.equal(unstamped(v4.stdout), "> [STAMP] over v4\n> ");
  const log = (await server.stop()).stdout;
  assert.match(log, /^waiting for connection on \[::\]:\d+\.\.\.$/m);
  assert.match(log, /^\.\.\.connected from: \[::1\]:\d+$/m);
  assert.match(log, /^\.\.\.connected from: 127\.0\.0\.1:\d+$/m);
});

Deno.test("tsTserv --quiet logs no line per connection", async () => {
  await using server = await startServer("tsTserv.ts", ["--quiet"]);
  await runScript("tsTclnt.ts", ["-p", String(server.port)], "hi\n");
  const result = await server.stop();
  assert.equal(result.code, 0);
  assert.match(
    result.stdout,
    /^waiting for connection on 127\.0\.0\.1:\d+\.\.\.\nserver stopped \(SIGINT\)\n$/,
  );
});

Deno.test({
  ...needsRoot(
    "tsTclnt reaches an IPv4 server by a name whose first address is ::1",
    "unshare --mount puts a hosts file of our own in place",
  ),
}, async () => {
  // Deno.connect tries each address of a name, as Python's create_connection does; it used to
  // try only the first, and the client had to resolve names itself.
  await using server = await startServer("tsTserv.ts"); // on 127.0.0.1 only
  const hosts = await Deno.makeTempFile({ dir: "/tmp" });
  try {
    await Deno.writeTextFile(hosts, "::1 dual.test\n127.0.0.1 dual.test\n");
    const command = `mount --bind "$0" /etc/hosts && exec "$@"`;
    const proc = new Proc("unshare", [
      "--mount",
      "sh",
      "-c",
      command,
      hosts,
      Deno.execPath(),
      ...denoArgs("tsTclnt.ts", ["--host", "dual.test", "-p", String(server.port)]),
    ], { stdin: true });
    await proc.write("hello\n");
    const result = await proc.finish();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(unstamped(result.stdout), "> [STAMP] hello\n> ");
  } finally {
    await Deno.remove(hosts);
  }
});
