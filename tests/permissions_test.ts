/**
 * Deno's permissions, as a careful user gives them: the narrowest command the README shows for
 * each script works, and a missing permission is one line that names it and the flag to add.
 */

import assert from "node:assert/strict";
import { encoder, Proc, type Result, scriptPath, udpExchange } from "./helpers.ts";

/** A port with nothing listening on it, for a server that may only listen there. */
function freePort(): number {
  using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return probe.addr.port;
}

/** Runs `script` with exactly these `deno run` flags. */
function run(flags: string[], script: string, args: string[], input?: string): Proc {
  const proc = new Proc(Deno.execPath(), ["run", ...flags, scriptPath(script), ...args], {
    stdin: input !== undefined,
  });
  if (input !== undefined) proc.write(input).catch(() => {}); // it may exit first
  return proc;
}

function assertOneError(result: Result, message: string): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stderr, `error: ${message}\n`);
}

/**
 * tsUserv's narrowest flags, as the README gives them. It sends each reply to its client's
 * address, and Deno asks leave for each: these are local; `--no-prompt`, so that a client not
 * granted is refused at once, not left to a prompt that stops the server.
 */
function userverFlags(port: number): string[] {
  return ["--unstable-net", "--no-prompt", `--allow-net=0.0.0.0:${port},127.0.0.1`];
}

/** Each pair, with the narrowest flags the README gives for the server and for the client. */
const PAIRS = [
  {
    server: "tsTserv.ts",
    client: "tsTclnt.ts",
    serverFlags: (port: number) => ["--no-prompt", `--allow-net=0.0.0.0:${port}`],
    clientFlags: (port: number) => [`--allow-net=localhost:${port}`],
  },
  {
    server: "tsTservSS.ts",
    client: "tsTclntSS.ts",
    serverFlags: (port: number) => ["--no-prompt", `--allow-net=0.0.0.0:${port}`],
    clientFlags: (port: number) => [`--allow-net=localhost:${port}`],
  },
  {
    server: "tsUserv.ts",
    client: "tsUclnt.ts",
    serverFlags: userverFlags,
    clientFlags: (port: number) => [
      "--unstable-net",
      `--allow-net=localhost,0.0.0.0:0,127.0.0.1:${port}`,
    ],
  },
];

for (const { server, client, serverFlags, clientFlags } of PAIRS) {
  Deno.test(`${server} and ${client} work with the narrowest permissions the README gives`, async () => {
    const port = freePort();
    const serving = run(serverFlags(port), server, ["-p", String(port)]);
    try {
      await serving.stdout.waitFor(/^waiting for \w+ on 0\.0\.0\.0:\d+\.\.\.$/m);
      const result = await run(clientFlags(port), client, ["-p", String(port)], "hello\n")
        .finish();
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^> \[.{24}\] hello\n> $/);
    } finally {
      serving.kill("SIGTERM");
      assert.equal((await serving.finish()).code, 0);
    }
  });
}

Deno.test("a missing network permission is one line naming it and the flag that grants it", async () => {
  const port = freePort();
  const cases: [string[], string, string[], string][] = [
    [
      ["--allow-net=127.0.0.1"],
      "tsTclnt.ts",
      ["-p", String(port)],
      `Cannot connect to localhost:${port}: network access to localhost:${port} was not ` +
      `granted (run with --allow-net=localhost:${port}, or -N)`,
    ],
    [
      ["--allow-net=127.0.0.1"],
      "tsTserv.ts",
      ["-p", String(port)],
      `Cannot listen on 0.0.0.0:${port}: network access to 0.0.0.0:${port} was not granted ` +
      `(run with --allow-net=0.0.0.0:${port}, or -N)`,
    ],
    [
      ["--unstable-net", "--allow-net=127.0.0.1"],
      "tsUclnt.ts",
      ["-p", String(port)],
      `Cannot send to localhost:${port}: network access to localhost was not granted ` +
      "(run with --allow-net=localhost, or -N)",
    ],
    [
      ["--unstable-net", "--allow-net=localhost"],
      "tsUclnt.ts",
      ["-p", String(port)],
      "Cannot open a UDP socket on 0.0.0.0:0: network access to 0.0.0.0:0 was not granted " +
      "(run with --allow-net=0.0.0.0:0, or -N)",
    ],
  ];
  for (const [flags, script, args, message] of cases) {
    assertOneError(await run(flags, script, args, "hello\n").finish(), message);
  }
});

/** `word` quoted for `sh`. */
const quoted = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

Deno.test("tsUserv at a terminal, with the README's narrow --allow-net, refuses a client not granted and answers the next", async () => {
  const port = freePort();
  const server = [Deno.execPath(), "run", ...userverFlags(port), scriptPath("tsUserv.ts")];
  // `script` gives the server a terminal, the one place where Deno would ask "Allow?" and wait.
  const command = [...server, "-p", String(port)].map(quoted).join(" ");
  const serving = new Proc("script", ["-qfc", command, "/dev/null"]);
  try {
    await serving.stdout.waitFor(/waiting for message on 0\.0\.0\.0:\d+\.\.\./);
    // A datagram from 127.0.0.2, which the flags do not grant (python3: the test may not either).
    const send = `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 0)); s.sendto(b"not granted", ("127.0.0.1", ${port}))`;
    const python = await new Proc("python3", ["-c", send]).finish();
    assert.equal(python.code, 0, python.stderr);
    const reply = await udpExchange(port, encoder.encode("granted"), 2000);
    assert.match(new TextDecoder().decode(reply), /^\[.{24}\] granted$/);
    await serving.stdout.waitFor(
      /\.\.\.cannot reply to 127\.0\.0\.2:\d+: network access to it was not granted \(run with -N to answer every client\)\r?\n/,
    );
  } finally {
    serving.kill("SIGTERM");
    await serving.finish();
  }
});
