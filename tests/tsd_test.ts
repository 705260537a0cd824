/**
 * `server/tsd.ts`, the production server: each of its three protocols answers as the lesson it
 * stands for does, byte for byte, over every transport; a flag for another protocol is a usage
 * error; and it keeps the lessons' production rules (the PROXY protocol, TLS, workers).
 */

import assert from "node:assert/strict";
import {
  DATAGRAMS,
  encoder,
  Proc,
  proxyV1,
  readBytes,
  runScript,
  splitStamp,
  started,
  startServer,
  TRANSPORTS,
  unstamped,
  writeAll,
} from "./helpers.ts";
import { readBlock } from "./readme.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const decoder = new TextDecoder();
/** Every byte value, and more than one read's worth: what comes back must be the same. */
const ALL_BYTES = Uint8Array.from({ length: 600 }, (_, i) => i % 256);

for (const transport of TRANSPORTS) {
  const { name, server: serving } = transport;

  Deno.test(`${name}: tsd --proto tcp stamps every read, byte for byte, and stops cleanly`, async () => {
    await using server = await startServer("tsd.ts", [...serving.args], "127.0.0.1", serving);
    using conn = await transport.connect(server.port);
    for (const payload of [encoder.encode("hello"), ALL_BYTES.subarray(0, 255)]) {
      await writeAll(conn, payload);
      assert.deepEqual(splitStamp(await readBytes(conn, 27 + payload.length)), payload);
    }
    const { code, stdout, stderr } = await server.stop("SIGTERM");
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\.\.\.connected from: /);
    assert.match(stdout, /\nserver stopped \(SIGTERM\)\n$/);
  });

  Deno.test(`${name}: tsd --proto ss answers one line per connection, its line ending kept`, async () => {
    await using server = await startServer(
      "tsd.ts",
      ["--proto", "ss", ...serving.args],
      "127.0.0.1",
      serving,
    );
    for (const line of ["a line\r\n", "wörld\n"]) {
      using conn = await transport.connect(server.port);
      await writeAll(conn, encoder.encode(line));
      const body = splitStamp(await readBytes(conn, 27 + encoder.encode(line).length));
      assert.equal(decoder.decode(body), line);
      assert.equal(await conn.read(new Uint8Array(8)).catch(() => null), null, "then it closes");
    }
    assert.equal((await server.stop("SIGTERM")).code, 0);
  });

  Deno.test(`${name}: tsd --proxy-protocol names the client, for tcp and ss`, async () => {
    for (const proto of ["tcp", "ss"]) {
      await using server = await startServer(
        "tsd.ts",
        ["--proto", proto, "--proxy-protocol", ...serving.args],
        "127.0.0.1",
        serving,
      );
      const header = proxyV1("203.0.113.7", 51034);
      const split = [header.subarray(0, 7), header.subarray(7)]; // in two reads, as a balancer may
      using conn = await transport.connectAfter(server.port, split);
      await writeAll(conn, encoder.encode("via\n"));
      assert.equal(decoder.decode(splitStamp(await readBytes(conn, 27 + 4))), "via\n");
      const { stdout } = await server.stop("SIGTERM");
      assert.match(stdout, /^\.\.\.connected from: 203\.0\.113\.7:51034 via /m, proto);
    }
  });
}

for (const datagrams of DATAGRAMS) {
  Deno.test(`${datagrams.name}: tsd --proto udp answers each datagram, byte for byte`, async () => {
    const { server: serving } = datagrams;
    await using server = await startServer(
      "tsd.ts",
      ["--proto", "udp", ...serving.args],
      "127.0.0.1",
      serving,
    );
    const payloads = [encoder.encode("hello"), ALL_BYTES.subarray(0, 300), new Uint8Array(0)];
    const replies = await datagrams.exchange(server, payloads);
    replies.forEach((reply, i) => assert.deepEqual(splitStamp(reply), payloads[i]));
    const { code, stdout } = await server.stop("SIGTERM");
    assert.equal(code, 0);
    assert.match(stdout, /\.\.\.received from and returned to: /);
  });
}

Deno.test("tsd says in one line when a flag is for another protocol, or a value does not fit it", async () => {
  const cases: [string[], RegExp][] = [
    [["--proto", "udp", "--max-line", "10"], /^error: --max-line is for --proto ss$/],
    [["--proto", "tcp", "--line-budget", "1"], /^error: --line-budget is for --proto ss$/],
    [["--proto", "udp", "--proxy-protocol"], /^error: --proxy-protocol is for --proto tcp or ss$/],
    [["--proto", "udp", "--tls-cert", "c", "--tls-key", "k"], /^error: --tls-cert is for --proto/],
    [["--proto", "udp", "--bufsiz", "70000"], /^error: --bufsiz for --proto udp is at most 65480$/],
    [["--proto", "http"], /^error: --proto must be one of tcp, ss, udp, not "http"$/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runScript("tsd.ts", ["-p", "0", ...args]);
    assert.equal(code, 2, `${args}: ${stderr}`);
    assert.match(stderr.split("\n")[0], message, args.join(" "));
    assert.match(stderr, /Run 'deno run -N --no-prompt --unstable-net server\/tsd\.ts --help'/);
  }
});

Deno.test("tsd --workers 2 serves from both workers, for tcp and ss, and one stop ends them", async () => {
  for (const proto of ["tcp", "ss"]) {
    await using server = await startServer(
      "tsd.ts",
      ["--proto", proto, "--workers", "2"],
      "127.0.0.1",
      { denoFlags: [`--allow-read=${ROOT}`] },
    );
    const workers = new Set<string>();
    for (let i = 0; i < 40 && workers.size < 2; i++) {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await writeAll(conn, encoder.encode("which\n"));
      await readBytes(conn, 27 + 6);
    }
    const { code, stdout, stderr } = await server.stop("SIGINT");
    assert.equal(code, 0, stderr);
    for (const [, n] of stdout.matchAll(/^\[worker (\d)\] \.\.\.connected from/gm)) workers.add(n);
    assert.deepEqual([...workers].sort(), ["1", "2"], `${proto}:\n${stdout}`);
    assert.match(stdout, /\nserver stopped \(SIGINT\)\n$/);
  }
});

// server/client.ts, the production client: over each transport, to tsd, whole replies printed.
for (const transport of TRANSPORTS) {
  const { name, server: serving, client: talking } = transport;
  Deno.test(`${name}: client.ts talks to tsd, tcp and ss, and prints each reply whole`, async () => {
    for (const proto of ["tcp", "ss"]) {
      await using server = await startServer(
        "tsd.ts",
        ["--proto", proto, ...serving.args],
        "127.0.0.1",
        serving,
      );
      const long = "x".repeat(3000); // more than --bufsiz: tcp answers it in stamped parts
      const { code, stdout, stderr } = await runScript(
        "client.ts",
        ["--proto", proto, ...(server.port ? ["-p", String(server.port)] : []), ...talking.args],
        `hello\n${long}\n`,
        talking,
      );
      assert.equal(code, 0, stderr);
      const replies = stdout.split("> ").filter(Boolean).map((reply) => unstamped(reply));
      assert.equal(replies[0], "[STAMP] hello\n", proto);
      assert.match(replies[1], /^\[STAMP\] x+/, proto);
      assert.equal(replies[1].replaceAll(/\[STAMP\] /g, "").trim(), long, proto);
    }
  });
}

Deno.test("client.ts says in one line what does not fit together", async () => {
  const cases: [string[], RegExp][] = [
    [["--proto", "udp", "--tls"], /^error: --tls is for tcp or ss$/],
    [["--proto", "ss", "--timeout", "5"], /^error: --timeout is for --proto udp$/],
    [["--ca", "ca.pem"], /^error: --ca goes with --tls$/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runScript("client.ts", args, "");
    assert.equal(code, 2, `${args}: ${stderr}`);
    assert.match(stderr.split("\n")[0], message, args.join(" "));
  }
});

Deno.test("server/README.md's server of your own on serve(): under 30 lines, it echoes in capitals and stops cleanly", async () => {
  const README = await Deno.readTextFile(new URL("../server/README.md", import.meta.url));
  const source = readBlock(README, "serve-example");
  assert.ok(source.split("\n").length <= 30, "more than 30 lines");
  // Run as the README says, beside server/: here from a folder of its own, pointing at ours.
  const dir = await Deno.makeTempDir({ prefix: "ts-deno-upper-" });
  try {
    const path = `${dir}/upper.ts`;
    await Deno.writeTextFile(path, source.replace(`"./server/`, `"${ROOT}/server/`));
    const proc = new Proc(Deno.execPath(), [
      "run",
      "-N=127.0.0.1",
      `--allow-read=${ROOT}`,
      path,
      "0",
    ]);
    await using server = await started(proc, /^listening on (\d+)$/m);
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const sent = encoder.encode("hello, World: é\n");
    await writeAll(conn, sent);
    assert.equal(decoder.decode(await readBytes(conn, sent.length)), "HELLO, WORLD: é\n");
    const { code, stdout, stderr } = await server.stop("SIGTERM");
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^\.\.\.connected from: 127\.0\.0\.1:\d+$/m);
    assert.match(stdout, /\nstopped\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
