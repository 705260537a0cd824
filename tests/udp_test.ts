/** End to end: tsUserv and tsUclnt, run as a user runs them. */

import assert from "node:assert/strict";
import {
  encoder,
  runScript,
  splitStamp,
  startServer,
  udpExchange as exchange,
  unstamped,
} from "./helpers.ts";

Deno.test("tsUclnt sends each piped line to tsUserv and prints its reply, until an empty line", async () => {
  await using server = await startServer("tsUserv.ts");
  const client = await runScript(
    "tsUclnt.ts",
    ["--port", String(server.port)],
    "hello\nwörld\n\nnot sent\n",
  );
  assert.equal(client.code, 0, client.stderr);
  assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> [STAMP] wörld\n> ");
  const log = (await server.stop()).stdout;
  assert.match(log, /^waiting for message on 127\.0\.0\.1:\d+\.\.\.$/m);
  assert.equal(log.match(/^\.\.\.received from and returned to: 127\.0\.0\.1:\d+$/gm)?.length, 2);
});

for (const host of ["0.0.0.0", "::"]) {
  Deno.test(`tsUclnt --host ${host} gets the reply of a server listening on ${host}`, async () => {
    // The address a server's log shows; the reply then comes from loopback.
    await using server = await startServer("tsUserv.ts", [], host);
    const client = await runScript(
      "tsUclnt.ts",
      ["--host", host, "--port", String(server.port), "--timeout", "1"],
      "hello\n",
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> ");
  });
}

Deno.test("tsUserv answers an empty datagram with a bare stamp", async () => {
  await using server = await startServer("tsUserv.ts");
  const reply = await exchange(server.port, new Uint8Array(0));
  assert.equal(splitStamp(reply).length, 0);
  await server.stop();
});

Deno.test("tsUserv cuts a datagram longer than --bufsiz to --bufsiz bytes, as recvfrom() does", async () => {
  await using server = await startServer("tsUserv.ts", ["--bufsiz", "8"]);
  const reply = await exchange(server.port, encoder.encode("0123456789abcdef"));
  assert.deepEqual(splitStamp(reply), encoder.encode("01234567"));
  await server.stop();
});

Deno.test("tsUserv serves many senders at once", async () => {
  await using server = await startServer("tsUserv.ts", ["-q"]);
  const payloads = Array.from({ length: 50 }, (_, i) => encoder.encode(`sender ${i}`));
  const replies = await Promise.all(payloads.map((payload) => exchange(server.port, payload)));
  replies.forEach((reply, i) => assert.deepEqual(splitStamp(reply), payloads[i]));
  await server.stop();
});
