/** End to end: tsTservSS and tsTclntSS, run as a user runs them. */

import assert from "node:assert/strict";
import {
  connect,
  encoder,
  readToEnd,
  runScript,
  sleep,
  splitStamp,
  startServer,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";

const decoder = new TextDecoder();

for (const { name, server: serving, client: talking, clientLog } of TRANSPORTS) {
  Deno.test(`${name}: tsTclntSS sends each line to tsTservSS on a new connection and prints the reply trimmed`, async () => {
    await using server = await startServer("tsTservSS.ts", serving.args, "127.0.0.1", serving);
    const client = await runScript(
      "tsTclntSS.ts",
      [...(server.port > 0 ? ["--port", String(server.port)] : []), ...talking.args],
      "one\ntwo \t\n\nnot sent\n",
      talking,
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal(unstamped(client.stdout), "> [STAMP] one\n> [STAMP] two\n> ");
    const log = (await server.stop()).stdout;
    const connected = new RegExp(`^\\.\\.\\.connected from: ${clientLog}$`, "gm");
    assert.equal(log.match(connected)?.length, 2);
  });
}

Deno.test("tsTservSS replies to one line with its line ending, then closes", async () => {
  await using server = await startServer("tsTservSS.ts");
  using conn = await connect(server.port);
  const line = new Uint8Array([0x78, 0xff, 0x00, 0xc3, 0x0d, 0x0a]); // invalid UTF-8, NUL, CRLF
  await writeAll(conn, new Uint8Array([...line, ...encoder.encode("not read\n")]));
  assert.deepEqual(splitStamp(await readToEnd(conn)), line);
  await server.stop();
});

Deno.test("tsTservSS joins a line that comes in pieces", async () => {
  await using server = await startServer("tsTservSS.ts", ["--bufsiz", "2"]);
  using conn = await connect(server.port);
  await writeAll(conn, encoder.encode("ab"));
  await sleep(50);
  await writeAll(conn, encoder.encode("cde\n"));
  assert.equal(decoder.decode(splitStamp(await readToEnd(conn))), "abcde\n");
  await server.stop();
});

Deno.test("tsTservSS answers a client that half-closes without a newline", async () => {
  await using server = await startServer("tsTservSS.ts");
  using conn = await connect(server.port);
  await writeAll(conn, encoder.encode("partial"));
  await conn.closeWrite();
  assert.equal(decoder.decode(splitStamp(await readToEnd(conn))), "partial");
  await server.stop();
});

Deno.test("tsTservSS serves others while connections wait for their line", async () => {
  await using server = await startServer("tsTservSS.ts", ["-q"]);
  const waiting = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
  const client = await runScript("tsTclntSS.ts", ["-p", String(server.port)], "still served\n");
  assert.equal(unstamped(client.stdout), "> [STAMP] still served\n> ");
  for (const conn of waiting) conn.close();
  await server.stop();
});

Deno.test("tsTclntSS also works with a server that keeps the connection open", async () => {
  await using server = await startServer("tsTserv.ts");
  const client = await runScript("tsTclntSS.ts", ["-p", String(server.port)], "hi\nthere\n");
  assert.equal(client.code, 0, client.stderr);
  assert.equal(unstamped(client.stdout), "> [STAMP] hi\n> [STAMP] there\n> ");
  await server.stop();
});

Deno.test("tsTservSS logs every per-connection line on stdout, as tsTserv does", async () => {
  await using server = await startServer("tsTservSS.ts", ["--max-line", "100"]);
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
