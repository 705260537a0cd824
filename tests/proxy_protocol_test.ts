/**
 * The PROXY protocol parser: each version's headers read right, whole or as they arrive; each
 * refusal as soon as the bytes cannot begin a header; a seeded fuzz of mutated headers; and v2
 * headers and IPv6 text built and judged by Python (`struct`, `inet_pton()`) as a cross-check.
 */

import assert from "node:assert/strict";
import { isIP } from "node:net";
import { random } from "./random.ts";
import {
  MAX_V1_LENGTH,
  MAX_V2_LENGTH,
  parseProxyHeader,
  type ProxyHeader,
  ProxyHeaderError,
} from "../server/proxy_protocol.ts";

const encoder = new TextEncoder();
const text = (line: string) => encoder.encode(line);
const concat = (...parts: Iterable<number>[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: its version and command byte, its family byte, then the block after them. */
function v2(verCmd: number, family: number, ...block: number[][]): Uint8Array {
  const length = block.flat().length;
  return concat(SIGNATURE, [verCmd, family, length >> 8, length & 0xff], ...block);
}
const port = (n: number) => [n >> 8, n & 0xff];
/** A TLV: its type, 16-bit length, and value. */
const tlv = (type: number, value: number[]) => [type, ...port(value.length), ...value];

/** Fails unless `bytes` is refused with a ProxyHeaderError whose message matches `message`. */
function assertRefused(bytes: Uint8Array, message: RegExp, what = "") {
  assert.throws(() => parseProxyHeader(bytes), (err) => {
    assert.ok(err instanceof ProxyHeaderError, `${what}: ${err}`);
    assert.match(err.message, message, what);
    return true;
  });
}

const IPV4_LINE = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
const IPV4_HEADER: ProxyHeader = {
  version: 1,
  length: IPV4_LINE.length,
  source: { hostname: "192.168.0.1", port: 56324 },
  destination: { hostname: "192.168.0.11", port: 443 },
  local: false,
};

Deno.test("parseProxyHeader() reads a v1 TCP4 header", () => {
  assert.deepEqual(parseProxyHeader(text(IPV4_LINE)), IPV4_HEADER);
  const edges = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
  assert.deepEqual(parseProxyHeader(text(edges)), {
    version: 1,
    length: 56 - 12, // the spec's longest, less the 12 digits these short addresses save
    source: { hostname: "0.0.0.0", port: 0 },
    destination: { hostname: "255.255.255.255", port: 65535 },
    local: false,
  });
});

Deno.test("parseProxyHeader() reads a v1 TCP6 header, and gives IPv6 in RFC 5952's form", () => {
  const line = "PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:192.0.2.1 8080 80\r\n";
  assert.deepEqual(parseProxyHeader(text(line)), {
    version: 1,
    length: line.length,
    source: { hostname: "2001:db8::1", port: 8080 },
    destination: { hostname: "::ffff:192.0.2.1", port: 80 },
    local: false,
  });
  const longest = `PROXY TCP6 ${Array(8).fill("ffff").join(":")} ::1 65535 65535\r\n`;
  assert.equal(parseProxyHeader(text(longest))?.source?.hostname, longest.slice(11, 50));
  const forms: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"], // the longest run of zeros
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // the first of two equal runs
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"], // one zero group stays
    ["1::", "1::"],
    ["::1.2.3.4", "::102:304"], // IPv4-compatible, long deprecated: plain hex
    ["0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"], // IPv4-mapped: dotted
    ["ABCD:EF01:2345:6789:abcd:ef01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789"],
    ["fe80::0:1", "fe80::1"],
  ];
  for (const [sent, canonical] of forms) {
    const header = parseProxyHeader(text(`PROXY TCP6 ${sent} ::1 1 2\r\n`));
    assert.equal(header?.source?.hostname, canonical, sent);
  }
});

Deno.test("parseProxyHeader() reads a v1 UNKNOWN header, short or at the longest", () => {
  assert.deepEqual(parseProxyHeader(text("PROXY UNKNOWN\r\nhello")), {
    version: 1,
    length: 15,
    local: true,
  });
  const ffff = Array(8).fill("ffff").join(":");
  const worst = `PROXY UNKNOWN ${ffff} ${ffff} 65535 65535\r\n`;
  assert.equal(worst.length, MAX_V1_LENGTH);
  assert.deepEqual(parseProxyHeader(text(worst)), { version: 1, length: 107, local: true });
  // What else the line holds is ignored, as the spec says: even garbage.
  const header = parseProxyHeader(concat(text("PROXY UNKNOWN \x00\xff ?? 1 2"), [0xc3, 13, 10]));
  assert.deepEqual(header, { version: 1, length: 27, local: true });
});

const IPV4_BLOCK = [[192, 168, 0, 1], [192, 168, 0, 11], port(56324), port(443)];
const IPV6_BLOCK = [
  [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1],
  [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1],
  port(1),
  port(65535),
];

Deno.test("parseProxyHeader() reads a v2 PROXY header over IPv4, with and without TLVs", () => {
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x11, ...IPV4_BLOCK)), {
    ...IPV4_HEADER,
    version: 2,
    length: 28,
  });
  const tlvs = [...tlv(0x01, [0x68, 0x32]), ...tlv(0x04, []), ...tlv(0x05, Array(128).fill(7))];
  const header = parseProxyHeader(concat(v2(0x21, 0x11, ...IPV4_BLOCK, tlvs), text("GET /")));
  assert.deepEqual(header, { ...IPV4_HEADER, version: 2, length: 28 + tlvs.length });
});

Deno.test("parseProxyHeader() reads a v2 PROXY header over IPv6", () => {
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x21, ...IPV6_BLOCK, tlv(0x02, [0x61]))), {
    version: 2,
    length: 16 + 36 + 4,
    source: { hostname: "2001:db8::1", port: 1 },
    destination: { hostname: "::ffff:10.0.0.1", port: 65535 },
    local: false,
  });
});

Deno.test("parseProxyHeader() reads v2 LOCAL, and v2 UNSPEC, UDP and AF_UNIX, as local", () => {
  const local = (length: number) => ({ version: 2, length, local: true });
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x00)), local(16));
  // LOCAL ignores the family, even one no PROXY header may name, and skips its block.
  assert.deepEqual(parseProxyHeader(v2(0x20, 0x11, ...IPV4_BLOCK)), local(28));
  assert.deepEqual(parseProxyHeader(v2(0x20, 0xff, [1, 2, 3])), local(19));
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x00, [9, 9])), local(18)); // UNSPEC
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x12, ...IPV4_BLOCK)), local(28)); // UDP
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x22, ...IPV6_BLOCK)), local(52));
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x31, Array(216).fill(0))), local(232)); // AF_UNIX
  assert.deepEqual(parseProxyHeader(v2(0x21, 0x32, Array(300).fill(0))), local(316));
  // The cap itself is allowed.
  const capped = v2(0x20, 0x00, Array(MAX_V2_LENGTH).fill(0));
  assert.deepEqual(parseProxyHeader(capped), local(16 + MAX_V2_LENGTH));
});

/** Valid headers, each with what it reads as. */
const VALID: [Uint8Array, ProxyHeader][] = [
  text(IPV4_LINE),
  text("PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n"),
  text("PROXY TCP6 1:2:3:4:5:6:7:8 0::0 1 2\r\n"),
  text("PROXY UNKNOWN\r\n"),
  text("PROXY UNKNOWN 1.2.3.4 5.6.7.8 9 10\r\n"),
  v2(0x21, 0x11, ...IPV4_BLOCK),
  v2(0x21, 0x11, ...IPV4_BLOCK, tlv(0x01, [0x68, 0x32]), tlv(0x20, [1, 0, 0, 0, 0])),
  v2(0x21, 0x21, ...IPV6_BLOCK),
  v2(0x20, 0x00),
  v2(0x20, 0x00, [1, 2, 3, 4]),
  v2(0x21, 0x31, Array(216).fill(0x41)),
].map((bytes) => [bytes, parseProxyHeader(bytes)!]);

Deno.test("parseProxyHeader() fed a byte at a time is undefined until the header is whole", () => {
  for (const [header, expected] of VALID) {
    assert.equal(expected.length, header.length);
    const bytes = concat(header, text("hello\r\n"), [0, 0x0d, 0x0a]); // the client's own
    for (let n = 0; n <= bytes.length; n++) {
      const got = parseProxyHeader(bytes.subarray(0, n));
      assert.deepEqual(got, n < header.length ? undefined : expected, `${n} bytes`);
    }
  }
});

// Each refusal, and how many bytes it takes: one fewer must still be undefined.
const REFUSALS: [string, Uint8Array, RegExp, number?][] = [
  ["an HTTP client", text("GET / HTTP/1.1\r\n"), /^not a PROXY protocol header$/, 1],
  ["a TLS client", Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xa5), /not a PROXY/, 1],
  ["lower case", text("proxy TCP4 1.1.1.1 2.2.2.2 1 2\r\n"), /not a PROXY/, 1],
  ["PROXY without its space", text("PROXYTCP4"), /not a PROXY/, 6],
  ["TCP5", text("PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n"), /unknown protocol.*"TCP5"/, 10],
  ["a double space", text("PROXY  TCP4 1.1.1.1"), /unknown protocol in v1 header: ""/, 7],
  ["UNKNOWN run on", text("PROXY UNKNOWNX\r\n"), /unknown protocol.*"UNKNOWNX"/, 14],
  ["an octet past 255", text("PROXY TCP4 999.1.1.1 2.2.2.2 1 2\r\n"), /"999\.1\.1\.1"/, 14],
  ["a leading zero", text("PROXY TCP4 10.01.1.1 2.2.2.2 1 2\r\n"), /bad address/, 16],
  ["three octets", text("PROXY TCP4 1.1.1 2.2.2.2 1 2\r\n"), /bad address.*"1\.1\.1"/, 17],
  ["five octets", text("PROXY TCP4 1.1.1.1.1 2.2.2.2 1 2\r\n"), /bad address/, 19],
  ["a port past 65535", text("PROXY TCP4 1.1.1.1 2.2.2.2 65536 1\r\n"), /bad port.*"65536"/, 32],
  ["a port's leading zero", text("PROXY TCP4 1.1.1.1 2.2.2.2 080 1\r\n"), /bad port/, 29],
  ["a port in hex", text("PROXY TCP4 1.1.1.1 2.2.2.2 1 0x50\r\n"), /bad port/, 31],
  ["TCP4 with IPv6", text("PROXY TCP4 ::1 ::1 1 2\r\n"), /bad address.*"::1"/, 12],
  ["TCP6 with IPv4", text("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), /bad address.*"1\.2\.3\.4"/, 19],
  ["three colons", text("PROXY TCP6 1:::2 ::1 1 2\r\n"), /bad address/, 15],
  ["nine groups", text("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n"), /bad address/, 29],
  ["a long group", text("PROXY TCP6 12345:: ::1 1 2\r\n"), /bad address/, 16],
  ["an IPv6 zone", text("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), /bad address/, 19],
  ["too many fields", text("PROXY TCP4 1.1.1.1 2.2.2.2 1 2 3\r\n"), /with 5 fields, not 4/, 31],
  ["too few fields", text("PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n"), /with 3 fields, not 4/, 30],
  ["a space before CRLF", text("PROXY TCP4 1.1.1.1 2.2.2.2 1 2 \r\n"), /5 fields/, 31],
  ["a lone LF", text("PROXY UNKNOWN\nGET / HTTP/1.1\r\n"), /LF without CR/, 14],
  ["a lone CR", text("PROXY UNKNOWN\rGET / HTTP/1.1\r\n"), /CR without LF/, 15],
  ["107 bytes, no CRLF", text(`PROXY UNKNOWN ${"x".repeat(93)}`), /longer than 107 bytes/, 107],
  ["108 bytes, no CRLF", text(`PROXY UNKNOWN ${"x".repeat(94)}`), /longer than 107/, 107],
  ['two "::"', text("PROXY TCP6 1::2::3 ::1 1 2\r\n"), /bad address/, 17],
  ["CRLF at 108", text(`PROXY UNKNOWN ${"x".repeat(92)}\r\n`), /longer than 107/, 107],
  ["a wrong signature", v2(0x21, 0x11).map((b, i) => i === 11 ? 0x0b : b), /not a PROXY/, 12],
  ["v2 version 1", v2(0x11, 0x11, ...IPV4_BLOCK), /v2 header with version 1, not 2/, 13],
  ["v2 version 3", v2(0x31, 0x11, ...IPV4_BLOCK), /version 3/, 13],
  ["v2 command 2", v2(0x22, 0x11, ...IPV4_BLOCK), /unknown command 2/, 13],
  ["v2 family 0x13", v2(0x21, 0x13, ...IPV4_BLOCK), /unknown family 0x13/, 14],
  ["v2 family 0x41", v2(0x21, 0x41, ...IPV4_BLOCK), /unknown family 0x41/, 14],
  [
    "v2 length 5000",
    v2(0x21, 0x11, Array(5000).fill(0)),
    /^v2 length 5000 past the cap of 1024$/,
    16,
  ],
  ["v2 length 1025", v2(0x20, 0x00, Array(MAX_V2_LENGTH + 1).fill(0)), /1025 past the cap/, 16],
  ["v2 IPv4 block short", v2(0x21, 0x11, Array(11).fill(0)), /11 bytes, less than 12/, 16],
  ["v2 IPv6 block short", v2(0x21, 0x21, ...IPV4_BLOCK), /12 bytes, less than 36/, 16],
  ["v2 UNIX block short", v2(0x21, 0x31, Array(108).fill(0)), /108 bytes, less than 216/, 16],
];

Deno.test("parseProxyHeader() refuses each break of the protocol as soon as it shows", () => {
  for (const [what, bytes, message, at] of REFUSALS) {
    assertRefused(bytes, message, what);
    if (at === undefined) continue;
    assert.equal(parseProxyHeader(bytes.subarray(0, at - 1)), undefined, `${what}: too soon`);
    assertRefused(bytes.subarray(0, at), /./, `${what}: at ${at} bytes`);
  }
});

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 1_000_000);
// Bytes the grammar cares about, so that mutations reach past the first check.
const TELLING = text(" \r\n.:0123456789abcdefFxX%PROXYTCP46UNKOW\x00\x0d\x0a\x20\x21\x11\xff");

/** One to three mutations of `bytes`: byte flips, truncations, insertions, deletions, copies. */
function mutate(bytes: Uint8Array, rng: ReturnType<typeof random>): Uint8Array {
  let out = [...bytes];
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const at = rng.below(out.length + 1);
    const byte = rng.next() < 0.6 ? rng.pick(TELLING) : rng.below(256);
    switch (rng.below(6)) {
      case 0:
        out[at] = out[at] ^ (1 << rng.below(8));
        break;
      case 1:
        out[at] = byte;
        break;
      case 2:
        out = out.slice(0, at);
        break;
      case 3:
        out.splice(at, 0, byte);
        break;
      case 4:
        out.splice(at, 1 + rng.below(3));
        break;
      default:
        out.splice(at, 0, ...out.slice(rng.below(out.length), rng.below(out.length) + 1));
    }
  }
  return Uint8Array.from(out.filter((b) => b !== undefined).map((b) => b & 0xff));
}

/** What `parseProxyHeader()` does with `bytes`: a header, undefined, or the error it threw. */
function outcome(bytes: Uint8Array): ProxyHeader | undefined | ProxyHeaderError {
  try {
    return parseProxyHeader(bytes);
  } catch (err) {
    if (err instanceof ProxyHeaderError) return err;
    throw new Error(`threw ${err} for ${JSON.stringify([...bytes])}`, { cause: err });
  }
}

Deno.test("parseProxyHeader() fuzzed: only its own error, and what it accepts holds up", () => {
  const rng = random(SEED);
  const counts = { whole: 0, partial: 0, refused: 0 };
  for (let i = 0; i < 2_000; i++) {
    const [original] = rng.pick(VALID);
    const bytes = concat(mutate(original, rng), rng.next() < 0.5 ? text("hello\r\n") : []);
    try {
      const got = outcome(bytes);
      const more = concat(bytes, [rng.below(256)]);
      if (got instanceof ProxyHeaderError) {
        counts.refused++;
        // A refusal is final: more bytes never make it right.
        assert.ok(outcome(more) instanceof ProxyHeaderError, "a refusal undone by more bytes");
        continue;
      }
      // Nothing before an accepted header, or before more is needed, is refused.
      const cut = rng.below(Math.min(bytes.length, got?.length ?? bytes.length) + 1);
      assert.ok(!(outcome(bytes.subarray(0, cut)) instanceof ProxyHeaderError), `cut at ${cut}`);
      if (got === undefined) {
        counts.partial++;
        continue;
      }
      counts.whole++;
      assert.ok(got.length <= bytes.length && got.length >= 15, `length ${got.length}`);
      assert.deepEqual(parseProxyHeader(bytes.subarray(0, got.length)), got);
      assert.equal(parseProxyHeader(bytes.subarray(0, got.length - 1)), undefined);
      assert.deepEqual(parseProxyHeader(more), got);
      assert.equal(got.local, got.source === undefined);
      if (!got.source || !got.destination) continue;
      for (const end of [got.source, got.destination]) {
        assert.ok(isIP(end.hostname) !== 0, `not an address: ${end.hostname}`);
        assert.ok(Number.isInteger(end.port) && end.port >= 0 && end.port <= 65535);
      }
      if (got.version === 1) {
        // Our own form of each address reads back as itself.
        const ip = isIP(got.source.hostname);
        assert.equal(isIP(got.destination.hostname), ip);
        const again = `PROXY TCP${ip} ${got.source.hostname} ${got.destination.hostname} ` +
          `${got.source.port} ${got.destination.port}\r\n`;
        assert.deepEqual(parseProxyHeader(text(again)), { ...got, length: again.length });
      }
    } catch (err) {
      throw new Error(`FUZZ_SEED=${SEED}, case ${i}, bytes ${JSON.stringify([...bytes])}`, {
        cause: err,
      });
    }
  }
  console.log(`FUZZ_SEED=${SEED}: ${JSON.stringify(counts)}`);
  // The mutations must reach each outcome, or the test proves little.
  assert.ok(Object.values(counts).every((count) => count > 100), JSON.stringify(counts));
});

/**
 * Python's side of the cross-check: v2 headers made with `struct` and `inet_pton()`, and IPv6
 * text forms, some broken, judged by `inet_pton()` (glibc's, on Linux), each with its answer.
 */
const PYTHON = `
import ipaddress, json, random, socket, struct, sys
rng = random.Random(int(sys.argv[1]))
SIG = b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n"
def words():
    kind = rng.randrange(3)
    if kind == 0:
        return [0] * 5 + [0xFFFF, rng.randrange(65536), rng.randrange(65536)]
    return [0 if rng.random() < 0.5 else rng.randrange(65536) for _ in range(8)]
def canonical(packed):
    address = ipaddress.IPv6Address(packed)
    if address.ipv4_mapped:
        return "::ffff:" + str(address.ipv4_mapped)
    return address.compressed
def forms(packed):
    address = ipaddress.IPv6Address(packed)
    v4 = socket.inet_ntop(socket.AF_INET, packed[12:])
    return [address.compressed, address.exploded, address.exploded.upper(),
            socket.inet_ntop(socket.AF_INET6, packed), address.exploded[:30] + v4]
cases = []
for _ in range(int(sys.argv[2])):
    ipv6 = rng.random() < 0.5
    family, pack = (0x21, socket.AF_INET6) if ipv6 else (0x11, socket.AF_INET)
    if ipv6:
        ips = [struct.pack("!8H", *words()) for _ in range(2)]
        names = [canonical(ip) for ip in ips]
    else:
        names = [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(2)]
        ips = [socket.inet_pton(pack, name) for name in names]
    ports = [rng.randrange(65536) for _ in range(2)]
    tlvs = b"".join(struct.pack("!BH", rng.randrange(256), n) + bytes(n)
                    for n in [rng.randrange(40) for _ in range(rng.randrange(3))])
    block = ips[0] + ips[1] + struct.pack("!HH", *ports) + tlvs
    header = SIG + struct.pack("!BBH", 0x21, family, len(block)) + block
    cases.append({"v2": header.hex(), "length": len(header), "names": names, "ports": ports})
    sent = rng.choice(forms(struct.pack("!8H", *words())))
    for _ in range(rng.randrange(3)):
        at = rng.randrange(len(sent) + 1)
        char = rng.choice(":.0123456789abcdefABCDEFg%")
        sent = rng.choice([sent[:at] + char + sent[at:], sent[:at] + sent[at + 1:],
                           sent[:at] + char + sent[at + 1:]])
    try:
        name = canonical(socket.inet_pton(socket.AF_INET6, sent))
    except OSError:
        name = None
    cases.append({"text": sent, "name": name})
print(json.dumps(cases))
`;

Deno.test("parseProxyHeader() agrees with Python on v2 headers and on IPv6 text", async () => {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("python3", { args: ["-c", PYTHON, `${SEED}`, "500"] })
      .output();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return console.log("python3 is not installed: no cross-check");
  }
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  type Case = { v2: string; length: number; names: string[]; ports: number[] } | {
    text: string;
    name: string | null;
  };
  const cases: Case[] = JSON.parse(new TextDecoder().decode(output.stdout));
  let valid = 0;
  for (const c of cases) {
    const what = `FUZZ_SEED=${SEED}: ${JSON.stringify(c)}`;
    if ("v2" in c) {
      const bytes = Uint8Array.from(c.v2.match(/../g)!, (hex) => parseInt(hex, 16));
      assert.deepEqual(parseProxyHeader(bytes), {
        version: 2,
        length: c.length,
        source: { hostname: c.names[0], port: c.ports[0] },
        destination: { hostname: c.names[1], port: c.ports[1] },
        local: false,
      }, what);
      continue;
    }
    const got = outcome(text(`PROXY TCP6 ${c.text} ::1 1 2\r\n`));
    if (c.name === null) assert.ok(got instanceof ProxyHeaderError, what);
    else {
      valid++;
      assert.ok(!(got instanceof ProxyHeaderError), what);
      assert.equal(got?.source?.hostname, c.name, what);
    }
  }
  // Both kinds of IPv6 text must come up, or the check proves little.
  assert.ok(valid > 50 && valid < 450, `${valid} of 500 valid`);
});
