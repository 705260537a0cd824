/**
 * End to end: tsUserv, its SocketServer twin tsUservSS, and tsUclnt, run as a user runs them,
 * and the production pair that stands for them, tsd and client.ts `--proto udp`: each test that
 * both must pass runs on each pair (`PAIRS.udp`), its name saying which; Unix datagrams, on the
 * production pair alone.
 */

import assert from "node:assert/strict";
import { DATAGRAMS, encoder, splitStamp, unstamped } from "./helpers.ts";
import {
  PAIRS,
  pipedSession,
  production,
  runCommand,
  runsOver,
  startCommand,
  tsd,
} from "./commands.ts";

const CASES = PAIRS.udp.flatMap((pair) =>
  DATAGRAMS.filter((transport) => runsOver(pair.server, transport)).map((transport) => ({
    ...pair,
    transport,
  }))
);

for (const { server: ours, client: theirs, transport } of CASES) {
  const { server: serving, listening, clientLog, exchange } = transport;
  const name = `${transport.name}: ${ours.name}`;
  const start = (args: string[] = []) =>
    startCommand(ours, [...serving.args, ...args], "127.0.0.1", serving);

  Deno.test(`${name}: ${theirs.name} sends each piped line and prints its reply, until an empty line`, async () => {
    const log = await pipedSession(ours, theirs, transport);
    assert.match(log, new RegExp(`^waiting for message on ${listening}\\.\\.\\.$`, "m"));
    const served = new RegExp(`^\\.\\.\\.received from and returned to: ${clientLog}$`, "gm");
    assert.equal(log.match(served)?.length, 2, log);
  });

  Deno.test(`${name} answers an empty datagram with a bare stamp`, async () => {
    await using server = await start();
    const [reply] = await exchange(server, [new Uint8Array(0)]);
    assert.equal(splitStamp(reply).length, 0);
    await server.stop();
  });

  Deno.test(`${name} serves many senders at once`, async () => {
    await using server = await start(production(ours, "-q"));
    const payloads = Array.from({ length: 50 }, (_, i) => encoder.encode(`sender ${i}`));
    const replies = await exchange(server, payloads);
    replies.forEach((reply, i) => assert.deepEqual(splitStamp(reply), payloads[i]));
    await server.stop();
  });
}

for (const transport of DATAGRAMS) {
  const { server: serving, exchange } = transport;
  Deno.test(`${transport.name}: tsd --proto udp cuts a datagram longer than --bufsiz to --bufsiz bytes, as recvfrom() does`, async () => {
    await using server = await startCommand(
      tsd("udp"),
      [...serving.args, "--bufsiz", "8"],
      "127.0.0.1",
      serving,
    );
    const [reply] = await exchange(server, [encoder.encode("0123456789abcdef")]);
    assert.deepEqual(splitStamp(reply), encoder.encode("01234567"));
    await server.stop();
  });
}

for (const { server: ours, client: theirs } of PAIRS.udp) {
  for (const host of ["0.0.0.0", "::"]) {
    Deno.test(`${theirs.name} --host ${host} gets the reply of ${ours.name} listening on ${host}`, async () => {
      // The address a server's log shows; the reply then comes from loopback.
      await using server = await startCommand(ours, [], host);
      const client = await runCommand(
        theirs,
        ["--host", host, "--port", String(server.port), "--timeout", "1"],
        "hello\n",
      );
      assert.equal(client.code, 0, client.stderr);
      assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> ");
    });
  }
}
