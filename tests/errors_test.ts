/**
 * Every expected failure is one clear line on stderr (usage errors add a hint) and the right
 * exit code: 1 at run time, 2 for a bad command line. Never a stack trace.
 */

import assert from "node:assert/strict";
import {
  denoArgs,
  needsRoot,
  Proc,
  type Result,
  runScript,
  spawnScript,
  startServer,
} from "./helpers.ts";
import { BOOK_SCRIPTS } from "../tools/scripts.ts";

const SCRIPTS = [...BOOK_SCRIPTS, "tsUservSS.ts"];

/** Asserts exit code 1 and a single `error: …` line matching `message` on stderr. */
function assertFailure(result: Result, message: RegExp): void {
  assert.equal(result.code, 1, `stderr: ${result.stderr}`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line only:\n${result.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], message);
}

/** A port with nothing listening on it (TCP or UDP). */
function freePort(): number {
  using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return probe.addr.port;
}

for (const script of SCRIPTS) {
  Deno.test(`${script} --help prints its usage on stdout and exits 0`, async () => {
    const result = await runScript(script, ["--help"]);
    assert.equal(result.code, 0);
    assert.match(
      result.stdout,
      new RegExp(`^${script}: .+\\n\\nUSAGE:\\n  deno run -N .*scripts/${script} \\[OPTIONS\\]`),
    );
    assert.match(result.stdout, /OPTIONS:\n {2}-h, --help +show this help and exit\n/);
    assert.equal(result.stderr, "");
  });

  Deno.test(`${script} rejects an unknown flag and a bad port with a usage error, exit 2`, async () => {
    for (const args of [["--bogus"], ["--port", "65536"], ["--port", "http"], ["stray"]]) {
      const result = await runScript(script, args);
      assert.equal(result.code, 2, `${args}: ${result.stderr}`);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 2, result.stderr);
      assert.match(
        lines[0],
        /^error: (Unknown option '--bogus'|--port must be a whole number|Unexpected argument)/,
      );
      assert.match(
        lines[1],
        new RegExp(`^Run 'deno run -N .*scripts/${script} --help' for usage\\.$`),
      );
      assert.equal(result.stdout, "");
    }
  });
}

for (const script of ["tsTserv.ts", "tsUserv.ts", "tsTservSS.ts", "tsUservSS.ts"]) {
  Deno.test(`${script} says when its port is already in use`, async () => {
    await using first = await startServer(script);
    const second = await runScript(script, ["--host", "127.0.0.1", "--port", String(first.port)]);
    assertFailure(
      second,
      /^error: Cannot listen on 127\.0\.0\.1:\d+: the port is already in use \(is another server running\? --port 0 picks a free one\)$/,
    );
    await first.stop();
  });
}

Deno.test({
  ...needsRoot(
    "a server without the privilege to bind a low port says so",
    "setpriv drops a capability that only root has",
  ),
}, async () => {
  // setpriv drops the one capability that lets root bind ports below 1024.
  const proc = new Proc("setpriv", [
    "--bounding-set=-net_bind_service",
    Deno.execPath(),
    ...denoArgs("tsTserv.ts", ["--port", "80"]),
  ]);
  assertFailure(
    await proc.finish(),
    /^error: Cannot listen on 0\.0\.0\.0:80: permission denied \(ports below 1024 need privileges; use a higher --port\)$/,
  );
});

Deno.test("a server asked to listen on an address of another machine says so", async () => {
  const result = await runScript("tsTserv.ts", ["--host", "192.0.2.1", "--port", "0"]);
  assertFailure(
    result,
    /^error: Cannot listen on 192\.0\.2\.1:0: "192\.0\.2\.1" is not an address of this machine$/,
  );
});

for (const script of ["tsTclnt.ts", "tsTclntSS.ts"]) {
  Deno.test(`${script} says when the connection is refused`, async () => {
    const result = await runScript(script, ["--port", String(freePort())], "hello\n");
    assertFailure(
      result,
      /^error: Cannot connect to localhost:\d+: connection refused \(is the server running\?\)$/,
    );
  });
}

for (const script of ["tsTclnt.ts", "tsUclnt.ts", "tsTclntSS.ts", "tsTserv.ts"]) {
  Deno.test(`${script} says when the host is unknown`, async () => {
    const result = await runScript(script, ["--host", "no-such-host.invalid"], "hello\n");
    assertFailure(
      result,
      /^error: Cannot (connect to|listen on|send to) no-such-host\.invalid:21567: unknown host "no-such-host\.invalid"$/,
    );
  });
}

Deno.test({
  ...needsRoot(
    "tsTclntV6 says when the machine has no IPv6",
    "unshare --net makes a network namespace",
  ),
}, async () => {
  // A network namespace of our own, with IPv6 turned off in it.
  const command = `echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && exec "$0" "$@"`;
  const proc = new Proc("unshare", [
    "--net",
    "sh",
    "-c",
    command,
    Deno.execPath(),
    ...denoArgs("tsTclntV6.ts", []),
  ]);
  assertFailure(
    await proc.finish(),
    /^error: Cannot connect to \[::1\]:21567: IPv6 is not available on this machine$/,
  );
});

Deno.test("tsUclnt gives up after --timeout without a reply, exit 1", async () => {
  const before = performance.now();
  const result = await runScript(
    "tsUclnt.ts",
    ["--port", String(freePort()), "--timeout", "0.3"],
    "anyone?\n",
  );
  assertFailure(
    result,
    /^error: No reply from localhost:\d+ within 0\.3 s \(is the server running\? UDP cannot tell a lost datagram from a missing server\)$/,
  );
  assert.ok(performance.now() - before < 3000);
});

/** A server that accepts, reads what it gets, and closes without a word. */
async function rudeServer(use: (port: number) => Promise<void>): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(1024)).catch(() => null);
      conn.close();
    }
  })().catch(() => {});
  await use(listener.addr.port);
  listener.close();
  await serving;
}

for (const script of ["tsTclnt.ts", "tsTclntSS.ts"]) {
  Deno.test(`${script} says when the server closes the connection mid-session`, async () => {
    await rudeServer(async (port) => {
      const result = await runScript(
        script,
        ["--host", "127.0.0.1", "-p", String(port)],
        "hello\nagain\n",
      );
      assertFailure(result, /^error: The server (closed|reset) the connection( \(.*\))?$/);
      assert.equal(result.stdout, "> ");
    });
  });
}

Deno.test("a UDP script, or --workers, copied without deno.json says it needs --unstable-net", async () => {
  // The template case: scripts/ and lib/ copied somewhere with no deno.json to turn UDP on.
  const dir = await Deno.makeTempDir({ dir: "/tmp" });
  try {
    const root = new URL("../", import.meta.url).pathname;
    const copy = new Proc("cp", ["-r", `${root}scripts`, `${root}lib`, `${root}server`, dir]);
    assert.equal((await copy.finish()).code, 0);
    await Deno.mkdir(`${dir}/bench`); // the load generator, and its engine
    for (const file of ["tsLoad.ts", "load_engine.ts"]) {
      await Deno.copyFile(`${root}bench/${file}`, `${dir}/bench/${file}`);
    }
    const without = new Proc(Deno.execPath(), [
      "run",
      "-N",
      `${dir}/scripts/tsUserv.ts`,
      "-p",
      "0",
    ]);
    assertFailure(await without.finish(), /^error: UDP needs Deno's --unstable-net flag/);
    const load = new Proc(Deno.execPath(), [
      "run",
      "-N",
      `${dir}/bench/tsLoad.ts`,
      ...["--proto", "udp", "-d", "1", "--warmup", "0"],
    ]);
    assertFailure(
      await load.finish(),
      /^error: UDP needs Deno's --unstable-net flag: deno run -N --unstable-net …$/,
    );
    const workers = new Proc(Deno.execPath(), [
      "run",
      "-N",
      `--allow-read=${dir}`,
      `${dir}/scripts/tsTserv.ts`,
      ...["-p", "0", "--workers", "2"],
    ]);
    assertFailure(await workers.finish(), /^error: --workers needs Deno's --unstable-net flag/);
    const copied = new Proc(Deno.execPath(), [
      "run",
      "-N",
      "--unstable-net",
      `${dir}/scripts/tsUserv.ts`,
      "-p",
      "0",
      "--host",
      "127.0.0.1",
    ]);
    await copied.stdout.waitFor(/^waiting for message on 127\.0\.0\.1:\d+\.\.\.$/m);
    copied.kill("SIGTERM");
    assert.equal((await copied.finish()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a client whose output is closed by its reader (| head) stops quietly", async () => {
  await using server = await startServer("tsTserv.ts", ["-q"]);
  const client = spawnScript("tsTclnt.ts", ["-p", String(server.port)], { stdin: true });
  await client.stdout.waitFor(/^> /);
  await client.stdout.stop(); // like `head` exiting after what it wanted
  const input = "line\n".repeat(2000);
  await client.write(input).catch(() => {}); // it may stop before it has read all of this
  const result = await client.finish();
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "");
  await server.stop();
});

/** Each client, and the server it goes to. */
const CLIENTS: [client: string, server: string, host: string][] = [
  ["tsTclnt.ts", "tsTserv.ts", "127.0.0.1"],
  ["tsTclntV6.ts", "tsTservV6.ts", "::1"],
  ["tsTclntSS.ts", "tsTservSS.ts", "127.0.0.1"],
  ["tsUclnt.ts", "tsUserv.ts", "127.0.0.1"],
];

for (const [client, server, host] of CLIENTS) {
  Deno.test(`${client} says so when its output is a full disk, or its input a directory`, async () => {
    await using serving = await startServer(server, ["-q"], host);
    const args = ["--host", host, "-p", String(serving.port)];
    // The shell redirects, as a user would: `> /dev/full` fills at once, `< /` is a folder.
    const run = (redirect: string) =>
      new Proc("sh", [
        "-c",
        `exec "$@" ${redirect}`,
        "sh",
        Deno.execPath(),
        ...denoArgs(client, args),
      ]);
    const full = run("> /dev/full < /dev/null");
    assertFailure(
      await full.finish(),
      /^error: Cannot write to standard output: no space left on device$/,
    );
    assertFailure(
      await run("< /").finish(),
      /^error: Cannot read standard input: is a directory$/,
    );
    await serving.stop();
  });
}
