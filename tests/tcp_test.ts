/**
 * End to end: tsTserv, tsTservV6, tsTclnt and tsTclntV6, run as a user runs them, and the
 * production pair that stands for them, tsd and client.ts `--proto tcp`: each test that both
 * must pass runs on each pair (`PAIRS.tcp`), its name saying which.
 */

import assert from "node:assert/strict";
import { STAMP_LENGTH } from "../lib/timestamp.ts";
import {
  assertReplyTo,
  connect,
  encoder,
  needsRoot,
  Proc,
  readBytes,
  splitStamp,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";
import {
  client,
  commandArgs,
  lesson,
  PAIRS,
  pipedSession,
  production,
  runCommand,
  runsOver,
  startCommand,
  tsd,
} from "./commands.ts";

for (const { server: ours, client: theirs } of PAIRS.tcp) {
  for (const transport of TRANSPORTS.filter((transport) => runsOver(ours, transport))) {
    const { name, listening, clientLog } = transport;
    Deno.test(`${name}: ${theirs.name} sends each piped line to ${ours.name} and prints its reply, until an empty line`, async () => {
      const log = await pipedSession(ours, theirs, transport);
      assert.match(log, new RegExp(`^waiting for connection on ${listening}\\.\\.\\.$`, "m"));
      assert.match(log, new RegExp(`^\\.\\.\\.connected from: ${clientLog}$`, "m"));
    });
  }

  Deno.test(`${theirs.name} stops at the end of input, even without a final newline`, async () => {
    await using server = await startCommand(ours);
    const client = await runCommand(theirs, ["-p", String(server.port)], "one\r\ntwo");
    assert.equal(client.code, 0, client.stderr);
    // Like Python's input() on a pipe, only "\n" ends a line: the "\r" goes to the server.
    assert.equal(unstamped(client.stdout), "> [STAMP] one\r\n> [STAMP] two\n> ");
    await server.stop();
  });

  Deno.test(`${ours.name} returns a character split across two reads byte for byte`, async () => {
    await using server = await startCommand(ours);
    using conn = await connect(server.port);
    const e = encoder.encode("é"); // two bytes; the book's Python 3 server dies on the first
    await writeAll(conn, e.subarray(0, 1));
    const first = await readBytes(conn, STAMP_LENGTH + 1);
    await writeAll(conn, e.subarray(1));
    const second = await readBytes(conn, STAMP_LENGTH + 1);
    assert.deepEqual([...splitStamp(first), ...splitStamp(second)], [...e]);
    await server.stop();
  });

  Deno.test(`${ours.name} serves many clients at once`, async () => {
    await using server = await startCommand(ours);
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

  Deno.test(`${theirs.name} prints a long reply whole, and nothing of it leaks into the next line`, async () => {
    // tsd reads 16 bytes at a time; a lesson, its 1024: either way, the reply comes in parts.
    await using server = await startCommand(ours, production(ours, "--bufsiz", "16"));
    const long = "x".repeat(5000) + "[y]";
    const client = await runCommand(theirs, ["-p", String(server.port)], `${long}\nnext\n`);
    assert.equal(client.code, 0, client.stderr);
    const [first, second, last] = client.stdout.split("\n");
    assertReplyTo(encoder.encode(first.slice(2)), encoder.encode(long));
    assert.equal(unstamped(second), "> [STAMP] next");
    assert.equal(last, "> ");
    await server.stop();
  });

  Deno.test({
    ...needsRoot(
      `${theirs.name} reaches an IPv4 server by a name whose first address is ::1`,
      "unshare --mount puts a hosts file of our own in place",
    ),
  }, async () => {
    // Deno.connect tries each address of a name, as Python's create_connection does; it used to
    // try only the first, and the client had to resolve names itself.
    await using server = await startCommand(ours); // on 127.0.0.1 only
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
        ...commandArgs(theirs, ["--host", "dual.test", "-p", String(server.port)]),
      ], { stdin: true });
      await proc.write("hello\n");
      const result = await proc.finish();
      assert.equal(result.code, 0, result.stderr);
      assert.equal(unstamped(result.stdout), "> [STAMP] hello\n> ");
    } finally {
      await Deno.remove(hosts);
    }
  });
}

Deno.test("tsd --proto tcp stamps every read of up to --bufsiz bytes", async () => {
  await using server = await startCommand(tsd("tcp"), ["--bufsiz", "4"]);
  using conn = await connect(server.port);
  await writeAll(conn, encoder.encode("abcdefghij"));
  const reply = await readBytes(conn, 3 * STAMP_LENGTH + 10);
  assert.equal(unstamped(new TextDecoder().decode(reply)), "[STAMP] abcd[STAMP] efgh[STAMP] ij");
  await server.stop();
});

/**
 * On IPv6: tsTservV6 with its clients (tsTclntV6 goes to `::1` unless told), and tsd and
 * client.ts on `::`, IPv6's any address.
 */
const IPV6 = [
  {
    server: lesson("tsTservV6.ts"),
    v6: lesson("tsTclntV6.ts"),
    v6Host: [],
    v4: lesson("tsTclnt.ts"),
  },
  { server: tsd("tcp"), v6: client("tcp"), v6Host: ["--host", "::1"], v4: client("tcp") },
];

for (const { server: ours, v6: overV6, v6Host, v4: overV4 } of IPV6) {
  Deno.test(`${ours.name} on :: answers IPv6 and IPv4 clients, and logs the IPv4 ones as plain IPv4`, async () => {
    await using server = await startCommand(ours, [], "::");
    const v6 = await runCommand(
      overV6,
      [...v6Host, "-p", String(server.port)],
      "over v6\n",
    );
    assert.equal(v6.code, 0, v6.stderr);
    assert.equal(unstamped(v6.stdout), "> [STAMP] over v6\n> ");
    const v4 = await runCommand(
      overV4,
      ["-p", String(server.port), "--host", "127.0.0.1"],
      "over v4\n",
    );
    assert.equal(unstamped(v4.stdout), "> [STAMP] over v4\n> ");
    const log = (await server.stop()).stdout;
    assert.match(log, /^waiting for connection on \[::\]:\d+\.\.\.$/m);
    assert.match(log, /^\.\.\.connected from: \[::1\]:\d+$/m);
    assert.match(log, /^\.\.\.connected from: 127\.0\.0\.1:\d+$/m);
  });
}

Deno.test("tsd --proto tcp --quiet logs no line per connection", async () => {
  await using server = await startCommand(tsd("tcp"), ["--quiet"]);
  await runCommand(client("tcp"), ["-p", String(server.port)], "hi\n");
  const result = await server.stop();
  assert.equal(result.code, 0);
  assert.match(
    result.stdout,
    /^waiting for connection on 127\.0\.0\.1:\d+\.\.\.\nserver stopped \(SIGINT\)\n$/,
  );
});
