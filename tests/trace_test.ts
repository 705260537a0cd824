/**
 * `--trace`: the README's transcripts are what the scripts show, the diagrams are drawn from
 * them, every transport's calls are shown in the book's words, and bytes as Python writes them.
 */

import assert from "node:assert/strict";
import { pyBytes } from "../lib/extras/trace.ts";
import {
  DATAGRAMS,
  Proc,
  runScript,
  type SpawnOptions,
  startServer,
  TRANSPORTS,
} from "./helpers.ts";
import { DEMOS, joinWrapped, normalise, sequenceDiagram } from "./trace_demo.ts";
import { readBlock } from "./readme.ts";

const README = new URL("../README.md", import.meta.url);
const REWRITE = "if the change is meant, `deno task trace-demo` writes the README's from a new run";

for (const [name, demo] of Object.entries(DEMOS)) {
  Deno.test(`--trace, ${name}: each terminal shows the README's transcript, times, ports and stamps aside`, async () => {
    const terminals = await demo();
    const readme = await Deno.readTextFile(README);
    const titles = Object.keys(terminals);
    const ran = normalise(titles.map((title) => terminals[title].transcript));
    const shown = normalise(
      titles.map((title) => readBlock(readme, `trace-demo ${name} ${title}`)),
    );
    titles.forEach((title, i) => assert.equal(ran[i], shown[i], `${name} ${title}: ${REWRITE}`));
  });
}

Deno.test("the README's transcripts fit 100 columns, and their Deno column names Deno's API only", async () => {
  const readme = await Deno.readTextFile(README);
  let lines = 0;
  for (const [name, demo] of Object.entries(DEMOS)) {
    for (const title of Object.keys(await demo())) {
      for (const line of readBlock(readme, `trace-demo ${name} ${title}`).split("\n")) {
        if (line.startsWith("$ ")) continue; // the command that was typed
        assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
        // Our library's calls (a handler's handle(), rfile, wfile) show in the book's column alone.
        assert.doesNotMatch(line, /run\(handler\)|this\.rfile|this\.write\(/, line);
        lines++;
      }
    }
  }
  assert.ok(lines > 50, `only ${lines} lines`);
});

Deno.test("the README's sequence diagrams are drawn from its transcripts of the servers", async () => {
  const readme = await Deno.readTextFile(README);
  for (const [demo, server] of [["tcp", "tsTserv.ts"], ["ss", "tsTservSS.ts"]]) {
    const drawn = sequenceDiagram(demo, readBlock(readme, `trace-demo ${demo} ${server}`));
    assert.equal(readBlock(readme, `trace-demo ${demo} diagram`), drawn, `${demo}: ${REWRITE}`);
    assert.match(drawn, /->>S: b'hello/, "a diagram shows the bytes that cross");
  }
});

/** Asserts that each of `patterns` matches `text`, each after the one before it. */
function assertInOrder(text: string, patterns: RegExp[], what: string): void {
  let from = 0;
  for (const pattern of patterns) {
    const found = new RegExp(pattern.source, "m").exec(text.slice(from));
    assert.ok(found, `${what}: no ${pattern} after what came before it, in:\n${text}`);
    from += found.index + found[0].length;
  }
}

const STAMPED = (payload: string) =>
  `b'\\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \\d]\\d [\\d:]{8} \\d{4}\\] ${payload}'`;

/** The production commands for a lesson pair, which take the flags of TLS and Unix sockets. */
const PRODUCTION: Record<string, [string, string[]]> = {
  "tsTserv.ts": ["tsd.ts", ["--proto", "tcp"]],
  "tsTservSS.ts": ["tsd.ts", ["--proto", "ss"]],
  "tsUserv.ts": ["tsd.ts", ["--proto", "udp"]],
  "tsTclnt.ts": ["client.ts", ["--proto", "tcp"]],
  "tsTclntSS.ts": ["client.ts", ["--proto", "ss"]],
  "tsUclnt.ts": ["client.ts", ["--proto", "udp"]],
};

/**
 * Runs `server` and `client` (both with `--trace`) over a transport, `input` typed into the
 * client: what each wrote on standard error, the server's once it has stopped. Over plain TCP
 * and UDP these are the lessons; over TLS and Unix sockets, tsd and client.ts in their place.
 */
async function traced(
  lessons: [server: string, client: string],
  { name, server: serving, client: talking }: {
    name: string;
    server: TransportSide;
    client: TransportSide;
  },
  input: string,
): Promise<{ client: string; server: string }> {
  const [[server, proto], [client, clientProto]] = lessons.map((lesson): [string, string[]] =>
    name === "tcp" || name === "udp" ? [lesson, []] : PRODUCTION[lesson]
  );
  await using started = await startServer(
    server,
    [...proto, ...serving.args, "--trace"],
    "127.0.0.1",
    serving,
  );
  const port = started.port > 0 ? ["--port", String(started.port)] : [];
  const args = [...clientProto, ...port, ...talking.args, "--trace"];
  const talked = await runScript(client, args, input, talking);
  assert.equal(talked.code, 0, talked.stderr);
  const said = (await started.stop()).stderr;
  return { client: joinWrapped(talked.stderr), server: joinWrapped(said) };
}
type TransportSide = SpawnOptions & { args: string[] };

/** Who runs over transport `name`, as a test's name says it. */
const who = (name: string, lessons: string, proto: string) =>
  name === "tcp" || name === "udp" ? lessons : `tsd and client.ts --proto ${proto}`;

for (const transport of TRANSPORTS) {
  const { name } = transport;
  const unix = name === "unix";
  const tls = name === "tls";
  const bound = unix
    ? "socket\\(AF_UNIX, SOCK_STREAM\\) bind\\('[^']*stream\\.sock'\\)"
    : "socket\\(AF_INET, SOCK_STREAM\\) bind\\(\\('127\\.0\\.0\\.1', 0\\)\\)";
  const connected = unix
    ? "socket\\(AF_UNIX, SOCK_STREAM\\) connect\\('[^']*stream\\.sock'\\)"
    : "socket\\(AF_INET, SOCK_STREAM\\) connect\\(\\('localhost', \\d+\\)\\)";
  const handshake = (side: string) =>
    tls
      ? [
        new RegExp(`^\\S+ \\[1\\] context\\.wrap_socket\\(${side}`),
        /^\S+ \[1\] do_handshake\(\) -> done/,
      ]
      : [];

  Deno.test(`${name}: ${who(name, "tsTserv and tsTclnt", "tcp")} with --trace show each socket call in the book's words`, async () => {
    const trace = await traced(["tsTserv.ts", "tsTclnt.ts"], transport, "hello\n");
    assertInOrder(trace.client, [
      new RegExp(`^\\S+ \\[1\\] ${connected}.*\\s+Deno\\.connect\\(\\{ `),
      ...(tls
        ? [
          /^\S+ \[1\] context\.wrap_socket\(sock, server_hostname='localhost'\) +Deno\.startTls\(conn, /,
        ]
        : []),
      ...handshake("sock").slice(1),
      /^\S+ \[1\] send\(b'hello'\) +conn\.write\(data\)$/,
      new RegExp(
        `^\\S+ \\[1\\] recv\\(65536\\) -> 32 bytes ${STAMPED("hello")} +conn\\.read\\(buffer\\)$`,
      ),
      /^\S+ \[1\] close\(\) +conn\[Symbol\.dispose\]\(\)/,
      /^\S+ {5}sys\.exit\(0\) +Deno\.exit\(0\)$/,
    ], `${name} client`);
    assertInOrder(trace.server, [
      new RegExp(`^\\+0\\.\\d{3} {5}${bound} listen\\(\\).*\\s+Deno\\.listen\\(\\{ `),
      /^\S+ \[1\] accept\(\) -> (?:\('[\d.]+', \d+\)|'') +listener\.accept\(\)$/,
      ...handshake("conn, server_side=True"),
      /^\S+ \[1\] recv\(1024\) -> 5 bytes b'hello' +conn\.read\(buffer\)$/,
      new RegExp(`^\\S+ \\[1\\] send\\(${STAMPED("hello")}\\) +conn\\.write\\(data\\)$`),
      /^\S+ \[1\] recv\(1024\) -> b'' \(end of input\) +conn\.read\(buffer\)$/,
      /^\S+ \[1\] close\(\) +conn\.close\(\)$/,
      /^\S+ {5}SIGINT received/,
      /^\S+ {5}close\(\) +listener\.close\(\)$/,
      /^\S+ {5}sys\.exit\(0\) +Deno\.exit\(0\)$/,
    ], `${name} server`);
    // Under TLS, the trace shows the plaintext, not TCP's records (16 KiB reads).
    assert.doesNotMatch(trace.server, /recv\(16384\)/);
  });

  Deno.test(`${name}: ${who(name, "tsTservSS and tsTclntSS", "ss")} with --trace show the handler's rfile and wfile`, async () => {
    const trace = await traced(["tsTservSS.ts", "tsTclntSS.ts"], transport, "one\ntwo\n");
    // Each connection's calls in order: the server may close one as the client opens the next.
    const on = (n: number, text: string) =>
      text.split("\n").filter((line) => line.includes(` [${n}] `)).join("\n");
    for (const n of [1, 2]) {
      assertInOrder(on(n, trace.client), [
        new RegExp(`^\\S+ \\[${n}\\] ${connected}`),
        new RegExp(`^\\S+ \\[${n}\\] send\\(b'${n === 1 ? "one" : "two"}\\\\r\\\\n'\\)`),
        new RegExp(`^\\S+ \\[${n}\\] close\\(\\)`),
      ], `${name} client`);
    }
    for (const n of [1, 2]) {
      assertInOrder(on(n, trace.server), [
        new RegExp(`^\\S+ \\[${n}\\] accept\\(\\) -> `),
        ...(tls ? [new RegExp(`^\\S+ \\[${n}\\] do_handshake\\(\\) -> done`)] : []),
        new RegExp(
          `^\\S+ \\[${n}\\] \\w+\\(request, (?:\\('[\\d.]+', \\d+\\)|''), server\\)\\.handle\\(\\)`,
        ),
        new RegExp(
          `^\\S+ \\[${n}\\] rfile\\.readline\\(\\) -> b'${n === 1 ? "one" : "two"}\\\\r\\\\n'`,
        ),
        new RegExp(
          `^\\S+ \\[${n}\\] wfile\\.write\\(${
            STAMPED(n === 1 ? "one" : "two").slice(0, -1)
          }\\\\r\\\\n'\\)`,
        ),
        new RegExp(`^\\S+ \\[${n}\\] shutdown\\(SHUT_WR\\)`),
        new RegExp(`^\\S+ \\[${n}\\] close\\(\\)`),
      ], `${name} server`);
    }
  });
}

for (const transport of DATAGRAMS) {
  const { name } = transport;
  Deno.test(`${name}: ${who(name, "tsUserv and tsUclnt", "udp")} with --trace show recvfrom() and sendto()`, async () => {
    const trace = await traced(["tsUserv.ts", "tsUclnt.ts"], transport, "hello\n");
    const family = name === "unix" ? "AF_UNIX" : "AF_INET";
    const sender = name === "unix"
      ? "'/tmp/tsUclnt-\\w+/client\\.sock'"
      : "\\('127\\.0\\.0\\.1', \\d+\\)";
    assertInOrder(trace.client, [
      new RegExp(`^\\S+ {5}socket\\(${family}, SOCK_DGRAM\\) bind\\(`),
      /^\S+ {5}sendto\(b'hello', (?:\('127\.0\.0\.1', \d+\)|'[^']*')\) +socket\.send\(data, address\)$/,
      new RegExp(`^\\S+ {5}recvfrom\\(65535\\) -> 32 bytes ${STAMPED("hello")} from `),
      /^\S+ {5}close\(\) +socket\.close\(\)$/,
    ], `${name} client`);
    assertInOrder(trace.server, [
      new RegExp(
        `^\\S+ {5}socket\\(${family}, SOCK_DGRAM\\) bind\\(.*\\s+Deno\\.listenDatagram\\(\\{ `,
      ),
      new RegExp(
        `^\\S+ {5}recvfrom\\(1024\\) -> 5 bytes b'hello' from ${sender} +socket\\.receive\\(buffer\\)$`,
      ),
      new RegExp(
        `^\\S+ {5}sendto\\(${STAMPED("hello")}, ${sender}\\) +socket\\.send\\(data, address\\)$`,
      ),
      /^\S+ {5}SIGINT received/,
      /^\S+ {5}close\(\) +socket\.close\(\)$/,
    ], `${name} server`);
  });
}

Deno.test("tsTservV6 and tsTclntV6 with --trace show AF_INET6", async () => {
  await using server = await startServer("tsTservV6.ts", ["--trace"], "::1");
  const client = await runScript(
    "tsTclntV6.ts",
    ["--port", String(server.port), "--trace"],
    "hi\n",
  );
  assert.equal(client.code, 0, client.stderr);
  assert.match(
    client.stderr,
    /^\S+ \[1\] socket\(AF_INET6, SOCK_STREAM\) connect\(\('::1', \d+\)\)/m,
  );
  const stopped = await server.stop();
  assert.match(
    stopped.stderr,
    /^\S+ {5}socket\(AF_INET6, SOCK_STREAM\) bind\(\('::1', 0\)\) listen\(\)/m,
  );
  assert.match(stopped.stderr, /^\S+ \[1\] accept\(\) -> \('::1', \d+\)/m);
});

Deno.test("without --trace, nothing is traced: a server's standard error stays empty", async () => {
  await using server = await startServer("tsTserv.ts");
  const client = await runScript("tsTclnt.ts", ["--port", String(server.port)], "hello\n");
  assert.equal(client.stderr, "");
  assert.equal((await server.stop()).stderr, "");
});

Deno.test("a refused connect() shows as Python's ConnectionRefusedError", async () => {
  using spare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = spare.addr;
  spare.close(); // a port nothing listens on now
  const client = await runScript("tsTclnt.ts", [
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--trace",
  ], "hi\n");
  assert.equal(client.code, 1);
  assert.match(
    joinWrapped(client.stderr),
    /^\S+ {5}socket\(\) connect\(\('127\.0\.0\.1', \d+\)\) -> ConnectionRefusedError +Deno\.connect\(.*\) threw Deno\.errors\.ConnectionRefused$/m,
  );
  assert.match(client.stderr, /sys\.exit\(1\)/);
});

Deno.test("pyBytes() writes bytes as Python's repr() does", async () => {
  const cases = [
    Uint8Array.from({ length: 256 }, (_, i) => i),
    new TextEncoder().encode("it's"),
    new TextEncoder().encode('say "hi"'),
    new TextEncoder().encode(`both ' and " \\ here`),
    new TextEncoder().encode("[Thu Jun  4 19:56:18 2020] hello\r\n"),
    new Uint8Array(0),
  ];
  const python = "import json, sys\nfor c in json.load(sys.stdin): print(repr(bytes(c)))";
  const proc = new Proc("python3", ["-c", python], { stdin: true } satisfies SpawnOptions);
  await proc.write(JSON.stringify(cases.map((c) => [...c])));
  const result = await proc.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(cases.map((c) => pyBytes(c, Infinity)), result.stdout.trimEnd().split("\n"));
  assert.equal(pyBytes(new Uint8Array(100).fill(0x61)), `b'${"a".repeat(48)}'... (100 bytes)`);
});
