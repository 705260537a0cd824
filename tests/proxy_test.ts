/**
 * `--proxy-protocol`, end to end without a balancer: the test sends the PROXY protocol header
 * itself, over every stream transport, and misbehaves as a balancer or a stranger might. The
 * server is tsd (`--proto tcp` or `ss`), which has the flag; the lessons do not.
 */

import assert from "node:assert/strict";
import {
  concat,
  encoder,
  proxyV1,
  readBytes,
  readToEnd,
  runScript,
  sleep,
  splitStamp,
  startServer,
  TRANSPORTS,
  writeAll,
} from "./helpers.ts";
import { startTsd } from "./commands.ts";
import { isTrusted, parseNetworks, trustsEvery } from "../server/proxy_listener.ts";
import { random } from "./random.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header from the IPv6 client 2001:db8::7, `port`, with a TLV after the addresses. */
function v2(port: number): Uint8Array {
  const source = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x07];
  const destination = [...Array(15).fill(0), 0x01];
  const tlv = [0x04, 0x00, 0x02, 0xab, 0xcd]; // PP2_TYPE_NOOP, 2 bytes
  const block = [...source, ...destination, port >> 8, port & 0xff, 0x53, 0xa7, ...tlv];
  return Uint8Array.from([...SIGNATURE, 0x21, 0x21, block.length >> 8, block.length, ...block]);
}

/** v2 LOCAL: a balancer's health check, with no address. */
const LOCAL = Uint8Array.from([...SIGNATURE, 0x20, 0x00, 0x00, 0x00]);

/** Sends `payload` and reads back its stamped reply. */
async function assertAnswers(conn: Deno.Conn, payload: string): Promise<void> {
  await writeAll(conn, encoder.encode(payload));
  const body = splitStamp(await readBytes(conn, 27 + payload.length));
  assert.equal(new TextDecoder().decode(body), payload);
}

for (const transport of TRANSPORTS) {
  const { name, server: serving } = transport;
  const via = name === "unix" ? "unix:" : "127\\.0\\.0\\.1:\\d+";

  Deno.test(`${name}: tsd --proto tcp --proxy-protocol shows the client a v1 or v2 header names, via the balancer`, async () => {
    await using server = await startTsd(
      "tcp",
      [...serving.args, "--proxy-protocol"],
      "127.0.0.1",
      serving,
    );
    for (const header of [proxyV1("203.0.113.7", 51034), v2(4242), proxyV1("2001:db8::9", 9)]) {
      using conn = await transport.connectAfter(server.port, header);
      await assertAnswers(conn, "hello");
      await assertAnswers(conn, "and more");
    }
    // The bytes that follow the header in the same write are the client's: answered too.
    if (name !== "tls") {
      using conn = await transport.connectAfter(
        server.port,
        Uint8Array.from([...proxyV1("198.51.100.1", 1), ...encoder.encode("right after")]),
      );
      const body = splitStamp(await readBytes(conn, 27 + 11));
      assert.equal(new TextDecoder().decode(body), "right after");
    }
    using local = await transport.connectAfter(server.port, LOCAL);
    await assertAnswers(local, "health check");
    const log = (await server.stop()).stdout;
    for (
      const client of ["203\\.0\\.113\\.7:51034", "\\[2001:db8::7\\]:4242", "\\[2001:db8::9\\]:9"]
    ) {
      assert.match(log, new RegExp(`^\\.\\.\\.connected from: ${client} via ${via}$`, "m"));
    }
    assert.match(
      log,
      new RegExp(`^\\.\\.\\.connected from: ${via} \\(the balancer itself\\)$`, "m"),
    );
  });
}

// A balancer may send its header in pieces: each is gathered until the header is whole.
for (const transport of TRANSPORTS) {
  Deno.test(`${transport.name}: tsd --proto tcp --proxy-protocol takes a header split over reads, v1 and v2`, async () => {
    const { server: serving } = transport;
    await using server = await startTsd(
      "tcp",
      [...serving.args, "--proxy-protocol"],
      "127.0.0.1",
      serving,
    );
    const v1 = proxyV1("203.0.113.7", 51034);
    const long = v2(4242);
    const splits: [string, Uint8Array[]][] = [
      ["v1 in two writes", [v1.subarray(0, 9), v1.subarray(9)]],
      ["v1 byte by byte", Array.from(v1, (byte) => Uint8Array.of(byte))],
      ["v2 in three parts", [long.subarray(0, 5), long.subarray(5, 17), long.subarray(17)]],
    ];
    for (const [what, pieces] of splits) {
      using conn = await transport.connectAfter(server.port, pieces);
      await assertAnswers(conn, what);
    }
    const { stdout, stderr } = await server.stop();
    assert.equal(stderr, "");
    assert.equal(
      stdout.match(/connected from: (203\.0\.113\.7:51034|\[2001:db8::7\]:4242) via/g)?.length,
      3,
    );
  });
}

/** What a server sends back to `sent` until it closes the connection (5 s at most). */
async function answerTo(port: number, sent: Uint8Array): Promise<Uint8Array> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, sent);
  return await readToEnd(conn).catch(() => new Uint8Array(0)); // reset: nothing more came
}

// Bytes that are not TLS, right behind the header in its write: TLS then starts with them.
for (const proto of ["tcp", "ss"] as const) {
  Deno.test(`tsd --proto ${proto} over TLS behind a balancer: bytes that are not TLS after the header end one connection, as without the header`, async () => {
    const tls = TRANSPORTS.find(({ name }) => name === "tls")!.server;
    await using plain = await startTsd(proto, tls.args, "127.0.0.1", tls);
    await using proxied = await startTsd(
      proto,
      [...tls.args, "--proxy-protocol"],
      "127.0.0.1",
      tls,
    );
    const seeded = random(2512);
    const header = proxyV1("203.0.113.7", 7);
    const sent: [string, Uint8Array][] = [
      ["a line", encoder.encode("hello\n")],
      ["one byte", Uint8Array.of(0x41)],
      ["200 random bytes", seeded.bytes(200, 0x16)],
      [
        "a record that is not a hello",
        Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0x05, ...encoder.encode("hello")),
      ],
    ];
    for (const [what, bytes] of sent) {
      const withHeader = await answerTo(proxied.port, concat(header, bytes));
      assert.deepEqual(withHeader, await answerTo(plain.port, bytes), what);
    }
    // Both still serve.
    const good = TRANSPORTS.find(({ name }) => name === "tls")!;
    using conn = await good.connectAfter(proxied.port, header);
    await assertAnswers(conn, "still here\n");
    const { code, stdout, stderr } = await proxied.stop();
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const failed = stdout.match(
      /^\.\.\.closing 203\.0\.113\.7:7 via 127\.0\.0\.1:\d+: TLS handshake failed: .*$/gm,
    );
    assert.equal(failed?.length, sent.length, stdout);
  });
}

Deno.test("tsd --proto ss --proxy-protocol: the handler's client is the one the header names", async () => {
  await using server = await startTsd("ss", ["--proxy-protocol"]);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(conn, Uint8Array.from([...v2(4242), ...encoder.encode("a line\r\n")]));
  const body = splitStamp(await readBytes(conn, 27 + 8));
  assert.equal(new TextDecoder().decode(body), "a line\r\n");
  const log = (await server.stop()).stdout;
  assert.match(log, /^\.\.\.connected from: \[2001:db8::7\]:4242 via 127\.0\.0\.1:\d+$/m);
});

/** Whether the server closed `conn` (end of input, or a reset) within 5 s. */
async function closedByServer(conn: Deno.Conn): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  const deadline = Date.now() + 5000;
  try {
    while (Date.now() < deadline) {
      const n = await Promise.race([conn.read(buffer), sleep(5000).then(() => 0 as const)]);
      if (n === null) return true;
      if (n === 0) return false;
    }
  } catch (err) {
    return err instanceof Deno.errors.ConnectionReset;
  }
  return false;
}

Deno.test("tsd --proto tcp --proxy-protocol closes, with a line, a stranger, a bad header and a silent client", async () => {
  const cases: [string, string[], string | undefined, RegExp][] = [
    // A good header, from a host --proxy-from does not list.
    [
      "a stranger",
      ["--proxy-from", "10.0.0.0/8,192.0.2.1"],
      "PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n",
      /: not a balancer --proxy-from trusts$/,
    ],
    [
      "not a header",
      [],
      "GET / HTTP/1.0\r\n\r\n",
      /: bad PROXY protocol header: .*not a PROXY protocol header/,
    ],
    [
      "a bad address",
      [],
      "PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n",
      /: bad PROXY protocol header: .*999\.0\.0\.1/,
    ],
    [
      "silence",
      ["--handshake-timeout", "0.5"],
      undefined,
      /: no PROXY protocol header within 0\.5 s$/,
    ],
  ];
  for (const [what, args, sent, said] of cases) {
    await using server = await startTsd("tcp", ["--proxy-protocol", ...args]);
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    if (sent !== undefined) await writeAll(conn, encoder.encode(sent));
    const started = Date.now();
    assert.ok(await closedByServer(conn), `${what}: not closed`);
    if (sent === undefined) assert.ok(Date.now() - started >= 400, "closed before the deadline");
    const { stdout, stderr } = await server.stop();
    assert.doesNotMatch(stdout, /connected from/, what);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${what}: ${stderr}`);
    assert.match(lines[0], /^\.\.\.closing 127\.0\.0\.1:\d+: /, what);
    assert.match(lines[0], said, `${what}: ${lines[0]}`);
  }
});

Deno.test("tsd --proto tcp --proxy-protocol: a flood of bad headers is a line a second, and the server goes on", async () => {
  await using server = await startTsd("tcp", ["--proxy-protocol"]);
  for (let i = 0; i < 50; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, encoder.encode("not a header\r\n")).catch(() => {});
    conn.close();
  }
  await sleep(100);
  using good = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(good, proxyV1("203.0.113.7", 7));
  await assertAnswers(good, "still here");
  const { stderr } = await server.stop();
  const lines = stderr.trim().split("\n");
  assert.ok(lines.length <= 3, `${lines.length} lines for 50 bad headers:\n${stderr}`);
  assert.match(stderr, /closed \d+ connections without a PROXY protocol header we take/);
});

Deno.test("tsd's --proxy-from goes with --proxy-protocol, and takes addresses and CIDRs only", async () => {
  for (
    const [args, message] of [
      [["--proxy-from", "10.0.0.0/8"], /--proxy-from goes with --proxy-protocol/],
      [["--proxy-protocol", "--proxy-from", "10.0.0.0/33"], /"10\.0\.0\.0\/33" is not an address/],
      [["--proxy-protocol", "--proxy-from", "localhost"], /"localhost" is not an address or CIDR/],
    ] as const
  ) {
    const { code, stderr } = await runScript("tsd.ts", ["--proto", "tcp", "--port", "0", ...args]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
  }
});

Deno.test("tsd --proxy-protocol warns, in one line at start, of a --proxy-from that trusts every address, and serves", async () => {
  const cases: [string, string | undefined][] = [
    ["0.0.0.0/0", "every IPv4 address"],
    ["::/0", "every IPv6 address"],
    ["10.0.0.0/8,0.0.0.0/1,128.0.0.0/1,::/0", "every address"],
    ["127.0.0.0/8,::1", undefined],
  ];
  for (const [from, whom] of cases) {
    await using server = await startTsd("tcp", ["--proxy-protocol", "--proxy-from", from]);
    if (isTrusted("127.0.0.1", parseNetworks(from.split(",")))) { // (not by ::/0)
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await writeAll(conn, proxyV1("203.0.113.7", 7));
      await assertAnswers(conn, "still served");
    }
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
    if (whom === undefined) {
      assert.equal(stderr, "", from);
      continue;
    }
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, stderr);
    const said = `warning: --proxy-from ${from} trusts ${whom}: anyone who can connect can ` +
      "claim to be any address (list only your balancers)";
    assert.equal(lines[0], said);
  }
});

// tsd without the flag, and the lesson, tsTserv, which is never given it.
for (
  const [what, start] of [
    ["tsd --proto tcp", () => startTsd("tcp")],
    ["tsTserv", () => startServer("tsTserv.ts")],
  ] as const
) {
  Deno.test(`${what} without --proxy-protocol takes a PROXY header for bytes, answered like any`, async () => {
    await using server = await start();
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const header = proxyV1("203.0.113.7", 1);
    await writeAll(conn, header);
    const body = splitStamp(await readBytes(conn, 27 + header.length));
    assert.deepEqual(body, header);
  });
}

Deno.test("tsd --proto ss and tcp: a stop answers the request a balancer's new connection is bringing, then ends it", async () => {
  for (const proto of ["ss", "tcp"] as const) {
    await using server = await startTsd(proto, ["--proxy-protocol"]);
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, proxyV1("203.0.113.7", 7)); // the header, and the request not yet
    await sleep(200); // accepted, its header read: a new connection
    server.proc.kill("SIGTERM");
    await sleep(200); // the stop has begun: the listener is closed
    await writeAll(conn, encoder.encode("late line\n"));
    const body = splitStamp(await readBytes(conn, 27 + 10));
    assert.equal(new TextDecoder().decode(body), "late line\n", proto);
    assert.ok(await closedByServer(conn), `${proto}: not ended after its reply`);
    assert.equal((await server.proc.finish()).code, 0);
  }
});

Deno.test("--proxy-from's networks: CIDRs and addresses, IPv4 and IPv6, mapped IPv4 as IPv4", () => {
  const networks = parseNetworks(["127.0.0.0/8", "::1", "2001:db8::/32", "192.0.2.1"]);
  const cases: [string, boolean][] = [
    ["127.9.9.9", true],
    ["::ffff:127.0.0.1", true], // a dual-stack listener's IPv4 client
    ["::1", true],
    ["::2", false],
    ["2001:db8:ffff::1", true],
    ["2001:db9::1", false],
    ["192.0.2.1", true],
    ["192.0.2.2", false],
    ["10.0.0.1", false],
  ];
  for (const [host, trusted] of cases) assert.equal(isTrusted(host, networks), trusted, host);
  assert.ok(isTrusted("8.8.8.8", parseNetworks(["0.0.0.0/0"])));
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "1.2.3.4/", "example.com"]) {
    assert.throws(() => parseNetworks([bad]), RangeError, bad);
  }
});

Deno.test("--proxy-from's networks: a list that covers every address of a family is told apart", () => {
  const cases: [string, string | undefined][] = [
    ["0.0.0.0/0", "every IPv4 address"],
    ["10.1.2.3/0", "every IPv4 address"], // the prefix alone counts
    ["0.0.0.0/1,128.0.0.0/1", "every IPv4 address"],
    ["0.0.0.0/1,128.0.0.0/2,192.0.0.0/2", "every IPv4 address"],
    ["0.0.0.0/1,128.0.0.0/2", undefined],
    ["::/0", "every IPv6 address"],
    ["::/1,8000::/1", "every IPv6 address"],
    ["::/0,0.0.0.0/0", "every address"],
    ["::ffff:0:0/96", undefined],
    ["127.0.0.0/8,::1,10.0.0.0/8", undefined],
    [Array.from({ length: 256 }, (_, i) => `${i}.0.0.0/8`).join(","), "every IPv4 address"],
    [Array.from({ length: 255 }, (_, i) => `${i}.0.0.0/8`).join(","), undefined],
  ];
  for (const [list, whom] of cases) {
    assert.equal(trustsEvery(parseNetworks(list.split(","))), whom, list.slice(0, 40));
  }
});
