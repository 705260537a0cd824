/**
 * Deno's permissions, as a careful user gives them: the narrowest command the README shows for
 * each script works, and a missing permission is one line that names it and the flag to add.
 */

import assert from "node:assert/strict";
import { Proc, type Result, scriptPath } from "./helpers.ts";

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

/** Each pair, with the narrowest flags the README gives for the server and for the client. */
const PAIRS = [
  {
    server: "tsTserv.ts",
    client: "tsTclnt.ts",
    serverFlags: (port: number) => [`--allow-net=0.0.0.0:${port}`],
    clientFlags: (port: number) => [`--allow-net=localhost:${port}`],
  },
  {
    server: "tsTservSS.ts",
    client: "tsTclntSS.ts",
    serverFlags: (port: number) => [`--allow-net=0.0.0.0:${port}`],
    clientFlags: (port: number) => [`--allow-net=localhost:${port}`],
  },
  {
    server: "tsUserv.ts",
    client: "tsUclnt.ts",
    // It sends each reply to its client's address, and Deno asks leave for each: these are local.
    serverFlags: (port: number) => ["--unstable-net", `--allow-net=0.0.0.0:${port},127.0.0.1`],
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
