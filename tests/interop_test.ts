/**
 * Interop: our servers with the book's clients and our clients with the book's servers give the
 * same transcript (stamps aside) as the book's own pair. The "book" here is tests/peers, Python
 * peers that behave on the wire as the chapter's listings do. Plain nc and socat count too.
 * Each test runs on the lessons and on the production pair, tsd and client.ts, which stands for
 * them with `--proto`; over Unix sockets, on the production pair alone (the lessons have no
 * `--unix`).
 */

import assert from "node:assert/strict";
import {
  encoder,
  Proc,
  runPeerClient,
  runScript,
  type Server,
  startPeerServer,
  startServer,
  UNIX_PATH,
  unstamped,
} from "./helpers.ts";
import { strip } from "../scripts/tsTclntSS.ts";
import { lesson, startCommand, tsd } from "./commands.ts";

// Lines that end in Unicode whitespace too, which the book's SocketServer client strips (U+3000,
// the ideographic space; U+00A0, no-break; U+0085, next line; U+2028, line separator).
const INPUT = "hello\nwörld, ça va ?\n[not a stamp]\n  spaced  \nideographic\u3000\n" +
  "no-break\u00a0\nnext line\u0085\nline separator\u2028 \u2029\n\nafter the empty line\n";

interface Pairing {
  name: string;
  ourServer: [script: string, host: string, ...args: string[]];
  ourClient: [script: string, host: string, ...args: string[]];
  peerServer: string;
  peerClient: [mode: string, host: string];
  /** Over AF_UNIX at this path, instead of a host and port. */
  unix?: string;
  /**
   * Our client prints each reply whole, where the book's `str.strip()`s it: compared without
   * the whitespace at the end of each line.
   */
  wholeReplies?: true;
}

/** Over AF_UNIX: the path, and the leave our scripts need (datagram ends reply to a file). */
const UNIX = `${UNIX_PATH}.interop`; // in this run's own folder (tests/helpers.ts)
const UNIX_ACCESS = { denoFlags: ["--allow-read=/tmp", "--allow-write=/tmp", "--allow-sys"] };

const PAIRINGS: Pairing[] = [
  {
    name: "TCP",
    ourServer: ["tsTserv.ts", "127.0.0.1"],
    ourClient: ["tsTclnt.ts", "127.0.0.1"],
    peerServer: "tcp-server",
    peerClient: ["tcp-client", "127.0.0.1"],
  },
  {
    name: "TCP over IPv6",
    ourServer: ["tsTservV6.ts", "::"],
    ourClient: ["tsTclntV6.ts", "::1"],
    peerServer: "tcp6-server",
    peerClient: ["tcp-client", "::1"],
  },
  {
    name: "UDP",
    ourServer: ["tsUserv.ts", "127.0.0.1"],
    ourClient: ["tsUclnt.ts", "127.0.0.1"],
    peerServer: "udp-server",
    peerClient: ["udp-client", "127.0.0.1"],
  },
  {
    // Ours only: the book has no UDP SocketServer listing; the book's UDP pair is the reference.
    name: "UDP SocketServer",
    ourServer: ["tsUservSS.ts", "127.0.0.1"],
    ourClient: ["tsUclnt.ts", "127.0.0.1"],
    peerServer: "udp-server",
    peerClient: ["udp-client", "127.0.0.1"],
  },
  {
    name: "SocketServer",
    ourServer: ["tsTservSS.ts", "127.0.0.1"],
    ourClient: ["tsTclntSS.ts", "127.0.0.1"],
    peerServer: "ss-server",
    peerClient: ["ss-client", "127.0.0.1"],
  },
  // The production pair, server/tsd.ts and server/client.ts, as each of the three.
  ...[["TCP", "tcp"], ["UDP", "udp"], ["SocketServer", "ss"]].map(([name, proto]) => ({
    name: `${name}, tsd and client.ts --proto ${proto}`,
    ourServer: ["tsd.ts", "127.0.0.1", "--proto", proto] as Pairing["ourServer"],
    ourClient: ["client.ts", "127.0.0.1", "--proto", proto] as Pairing["ourClient"],
    peerServer: `${proto}-server`,
    peerClient: [`${proto}-client`, "127.0.0.1"] as Pairing["peerClient"],
    ...(proto === "ss" ? { wholeReplies: true as const } : {}),
  })),
  {
    name: "TCP over IPv6, tsd and client.ts --proto tcp",
    ourServer: ["tsd.ts", "::", "--proto", "tcp"],
    ourClient: ["client.ts", "::1", "--proto", "tcp"],
    peerServer: "tcp6-server",
    peerClient: ["tcp-client", "::1"],
  },
];
// The production pairs over AF_UNIX (IPv6 aside): socket.AF_UNIX and
// socketserver.UnixStreamServer. The lessons have no --unix.
PAIRINGS.push(
  ...PAIRINGS.filter(({ name, ourServer: [script] }) =>
    script === "tsd.ts" && !name.includes("IPv6")
  ).map((pairing) => ({
    ...pairing,
    name: `${pairing.name} over a Unix socket`,
    unix: UNIX,
  })),
);

async function withServer<T>(server: Server, use: (port: number) => Promise<T>): Promise<T> {
  try {
    return await use(server.port);
  } finally {
    await server.stop();
    await Deno.remove(UNIX).catch(() => {}); // a Python server's socket file stays
  }
}

for (const pairing of PAIRINGS) {
  Deno.test(`${pairing.name}: our server and client match the book's pair, both ways round`, async () => {
    const [ourServer, serverHost, ...serverArgs] = pairing.ourServer;
    const [ourClient, clientHost, ...clientArgs] = pairing.ourClient;
    const [peerClient, peerHost] = pairing.peerClient;
    const { unix } = pairing;
    const runOurs = (port: number) =>
      unix
        ? runScript(ourClient, [...clientArgs, "--unix", unix], INPUT, UNIX_ACCESS)
        : runScript(ourClient, [...clientArgs, "--host", clientHost, "-p", String(port)], INPUT);
    const runPeer = (port: number) => runPeerClient(peerClient, unix ?? port, INPUT, peerHost);

    const [reference, ourClientToPeer] = await withServer(
      await startPeerServer(pairing.peerServer, unix),
      async (port) => [await runPeer(port), await runOurs(port)],
    );
    const [peerToOurServer, oursToOurs] = await withServer(
      unix
        ? await startServer(ourServer, [...serverArgs, "--unix", unix], serverHost, UNIX_ACCESS)
        : await startServer(ourServer, serverArgs, serverHost),
      async (port) => [await runPeer(port), await runOurs(port)],
    );

    assert.equal(reference.code, 0, reference.stderr);
    const expected = unstamped(reference.stdout);
    assert.match(expected, /^> \[STAMP\] hello\n> \[STAMP\] wörld, ça va \?\n/);
    // (Python's str.strip() takes Unicode's whitespace too, and \x1c-\x1f and \x85 beyond `\s`.)
    // deno-lint-ignore no-control-regex
    const ends = (text: string) => text.replace(/[\s\x1c-\x1f\x85]+$/gm, "");
    for (const [who, result] of Object.entries({ ourClientToPeer, peerToOurServer, oursToOurs })) {
      assert.equal(result.code, 0, `${who}: ${result.stderr}`);
      if (pairing.wholeReplies && who !== "peerToOurServer") {
        assert.equal(ends(unstamped(result.stdout)), ends(expected), who);
      } else assert.equal(unstamped(result.stdout), expected, who);
    }
  });
}

/** Runs a plain tool with `input` on stdin. */
async function runTool(command: string, args: string[], input: string) {
  const proc = new Proc(command, args, { stdin: true });
  await proc.write(input);
  return await proc.finish();
}

/** The servers nc and socat talk to: the lessons', then tsd as each of them. */
const PLAIN_SERVERS = [
  { tcp: lesson("tsTserv.ts"), ss: lesson("tsTservSS.ts"), udp: lesson("tsUserv.ts") },
  { tcp: tsd("tcp"), ss: tsd("ss"), udp: tsd("udp") },
];

for (const { tcp, ss, udp } of PLAIN_SERVERS) {
  Deno.test(`nc and socat, as plain TCP clients, get stamped replies from ${tcp.name}`, async () => {
    await withServer(await startCommand(tcp), async (port) => {
      const nc = await runTool("nc", ["-N", "127.0.0.1", String(port)], "from nc\n");
      assert.equal(unstamped(nc.stdout), "[STAMP] from nc\n");
      const socat = await runTool(
        "socat",
        ["-t", "2", "-", `TCP:127.0.0.1:${port}`],
        "from socat\n",
      );
      assert.equal(unstamped(socat.stdout), "[STAMP] from socat\n");
    });
  });

  Deno.test(`nc and socat, as plain clients, get stamped replies from ${ss.name} and ${udp.name}`, async () => {
    await withServer(await startCommand(ss), async (port) => {
      const nc = await runTool("nc", ["127.0.0.1", String(port)], "line\r\n");
      assert.equal(unstamped(nc.stdout), "[STAMP] line\r\n");
    });
    await withServer(await startCommand(udp), async (port) => {
      const socat = await runTool("socat", ["-t", "1", "-", `UDP:127.0.0.1:${port}`], "datagram");
      assert.equal(unstamped(socat.stdout), "[STAMP] datagram");
    });
  });
}

Deno.test("tsTclntSS strips a reply exactly as Python's str.strip() does, Unicode whitespace too", async () => {
  // python3 strips, both ends, each code point str.isspace() takes, and a few it does not
  // (U+FEFF, which JavaScript's trim() takes; U+200B, U+180E): our strip() must agree.
  const code = `import json
cases = [c for c in range(0x110000) if chr(c).isspace()] + [0xfeff, 0x200b, 0x180e, 0x41]
texts = [chr(c) * 2 + "x" + chr(c) + "y" + chr(c) for c in cases]
print(json.dumps([[t, t.strip()] for t in texts]))`;
  const python = await new Proc("python3", ["-c", code]).finish();
  assert.equal(python.code, 0, python.stderr);
  const pairs: [string, string][] = JSON.parse(python.stdout);
  assert.ok(pairs.length > 25, `python3 found ${pairs.length} cases`);
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  for (const [text, stripped] of pairs) {
    const ours = decoder.decode(strip(encoder.encode(text)));
    const shown = [...text].map((c) => c.codePointAt(0)!.toString(16)).join(" ");
    assert.equal(ours, stripped, `U+${shown}`);
  }
  // Not UTF-8 (the book's client would crash): ASCII whitespace goes, and no other byte changes.
  const bytes = Uint8Array.of(0x20, 0xa0, 0xff, 0xe3, 0x80, 0x80, 0x85, 0x0d, 0x0a);
  assert.deepEqual(strip(bytes), Uint8Array.of(0xa0, 0xff, 0xe3, 0x80, 0x80, 0x85));
});
