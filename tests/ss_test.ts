/**
 * End to end: tsTservSS and tsTclntSS, run as a user runs them, and the production pair that
 * stands for them, tsd and client.ts `--proto ss`: each test that both must pass runs on each
 * pair (`PAIRS.ss`), its name saying which.
 */

import assert from "node:assert/strict";
import {
  connect,
  encoder,
  readToEnd,
  sleep,
  splitStamp,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";
import {
  client as tsdClient,
  lesson,
  PAIRS,
  production,
  runCommand,
  runsOver,
  spawnCommand,
  startCommand,
  tsd,
} from "./commands.ts";

const decoder = new TextDecoder();

for (const [i, { server: ours, client: theirs }] of PAIRS.ss.entries()) {
  for (const transport of TRANSPORTS.filter((transport) => runsOver(ours, transport))) {
    const { name, server: serving, client: talking, clientLog } = transport;
    // The book's client strip()s a reply; client.ts takes off its line ending, and no more.
    const [printed, two] = theirs.lesson
      ? ["trimmed", "two"]
      : ["without its line ending", "two \t"];
    Deno.test(`${name}: ${theirs.name} sends each line to ${ours.name} on a new connection and prints the reply ${printed}`, async () => {
      await using server = await startCommand(ours, serving.args, "127.0.0.1", serving);
      const client = await runCommand(
        theirs,
        [...(server.port > 0 ? ["--port", String(server.port)] : []), ...talking.args],
        "one\ntwo \t\n\nnot sent\n",
        talking,
      );
      assert.equal(client.code, 0, client.stderr);
      assert.equal(unstamped(client.stdout), `> [STAMP] one\n> [STAMP] ${two}\n> `);
      const log = (await server.stop()).stdout;
      const connected = new RegExp(`^\\.\\.\\.connected from: ${clientLog}$`, "gm");
      assert.equal(log.match(connected)?.length, 2);
    });
  }

  Deno.test(`${ours.name} replies to one line with its line ending, then closes`, async () => {
    await using server = await startCommand(ours);
    using conn = await connect(server.port);
    const line = new Uint8Array([0x78, 0xff, 0x00, 0xc3, 0x0d, 0x0a]); // invalid UTF-8, NUL, CRLF
    await writeAll(conn, new Uint8Array([...line, ...encoder.encode("not read\n")]));
    assert.deepEqual(splitStamp(await readToEnd(conn)), line);
    await server.stop();
  });

  Deno.test(`${ours.name} joins a line that comes in pieces`, async () => {
    // tsd reads 2 bytes at a time; a lesson gets the pieces as they come, a moment apart.
    await using server = await startCommand(ours, production(ours, "--bufsiz", "2"));
    using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("ab"));
    await sleep(50);
    await writeAll(conn, encoder.encode("cde\n"));
    assert.equal(decoder.decode(splitStamp(await readToEnd(conn))), "abcde\n");
    await server.stop();
  });

  Deno.test(`${ours.name} answers a client that half-closes without a newline`, async () => {
    await using server = await startCommand(ours);
    using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("partial"));
    await conn.closeWrite();
    assert.equal(decoder.decode(splitStamp(await readToEnd(conn))), "partial");
    await server.stop();
  });

  Deno.test(`${ours.name} serves others while connections wait for their line`, async () => {
    await using server = await startCommand(ours, production(ours, "-q"));
    const waiting = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
    const client = await runCommand(theirs, ["-p", String(server.port)], "still served\n");
    assert.equal(unstamped(client.stdout), "> [STAMP] still served\n> ");
    for (const conn of waiting) conn.close();
    await server.stop();
  });

  // The tcp server of the same kind: the lesson's tsTserv, or tsd --proto tcp.
  const keeping = PAIRS.tcp[i].server;
  Deno.test(`${theirs.name} also works with a server that keeps the connection open (${keeping.name})`, async () => {
    await using server = await startCommand(keeping);
    const client = await runCommand(theirs, ["-p", String(server.port)], "hi\nthere\n");
    assert.equal(client.code, 0, client.stderr);
    assert.equal(unstamped(client.stdout), "> [STAMP] hi\n> [STAMP] there\n> ");
    await server.stop();
  });
}

Deno.test("tsd --proto ss logs every per-connection line on stdout, as --proto tcp does", async () => {
  await using server = await startCommand(tsd("ss"), ["--max-line", "100"]);
  {
    using long = await connect(server.port);
    await writeAll(long, encoder.encode("x".repeat(200) + "\n"));
    await readToEnd(long);
  }
  {
    using fine = await connect(server.port);
    await writeAll(fine, encoder.encode("fine\n"));
    await readToEnd(fine);
  }
  const result = await server.stop();
  assert.equal(result.stderr, "", "nothing of a connection on stderr");
  assert.match(result.stdout, /^\.\.\.closing 127\.0\.0\.1:\d+: line longer than 100 bytes$/m);
  assert.equal(result.stdout.match(/^\.\.\.connected from/gm)?.length, 2, result.stdout);
});

// A line server waits for the newline that a TCP client never sends: the client says so.
for (
  const [server, client] of [[lesson("tsTservSS.ts"), lesson("tsTclnt.ts")], [
    tsd("ss"),
    tsdClient("tcp"),
  ]]
) {
  Deno.test(`${client.name}, pointed at ${server.name}, says after 3 s of silence what may be wrong`, async () => {
    await using started = await startCommand(server);
    const talking = spawnCommand(client, ["--host", "127.0.0.1", "-p", String(started.port)], {
      stdin: true,
    });
    await talking.write("hello\n", false);
    const began = performance.now();
    await talking.stderr.waitFor(/no reply yet: a server that answers whole lines/, 6000);
    const took = performance.now() - began;
    assert.ok(took > 2500 && took < 5000, `after ${took.toFixed(0)} ms`);
    talking.kill("SIGINT");
    assert.equal((await talking.finish()).code, 0);
  });
}
