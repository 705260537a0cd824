/**
 * Every expected failure is one clear line on stderr (usage errors add a hint) and the right
 * exit code: 1 at run time, 2 for a bad command line. Never a stack trace. Each test runs on the
 * lessons and on the production pair, tsd and client.ts, which stands for them with `--proto`.
 */

import assert from "node:assert/strict";
import { needsRoot, Proc, type Result, runScript } from "./helpers.ts";
import { BOOK_SCRIPTS, COMMANDS } from "../tools/scripts.ts";
import {
  client,
  type Command,
  commandArgs,
  lesson,
  PAIRS,
  production,
  runCommand,
  spawnCommand,
  startCommand,
  tsd,
} from "./commands.ts";

const SCRIPTS = [...BOOK_SCRIPTS, "tsUservSS.ts", "tsd.ts", "client.ts"];

/** Where `script` is, as its usage shows it: `scripts/` for a lesson, `server/` for the rest. */
function shownPath(script: string): string {
  const { script: path } = COMMANDS[script];
  return path.includes("/") ? path : `scripts/${path}`;
}

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
      new RegExp(
        `^${COMMANDS[script].script}: .+\\n\\nUSAGE:\\n  deno run -N .*${
          shownPath(script)
        } \\[OPTIONS\\]`,
      ),
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
        new RegExp(`^Run 'deno run -N .*${shownPath(script)} --help' for usage\\.$`),
      );
      assert.equal(result.stdout, "");
    }
  });
}

/** Every server: the lessons', then tsd as each of them. */
const SERVERS = [
  ...[...PAIRS.tcp, ...PAIRS.ss, ...PAIRS.udp].filter(({ server }) => server.lesson),
  ...[PAIRS.tcp, PAIRS.ss, PAIRS.udp].map((pairs) => pairs.at(-1)!),
].map(({ server }) => server);
/** tsTserv, and tsd as it: for what every server says alike. */
const TCP_SERVERS = PAIRS.tcp.map(({ server }) => server);
/** The stream clients: the lessons', then client.ts as each of them. */
const STREAM_CLIENTS = [...PAIRS.tcp, ...PAIRS.ss].map(({ client }) => client);

for (const ours of SERVERS) {
  Deno.test(`${ours.name} says when its port is already in use`, async () => {
    await using first = await startCommand(ours);
    const second = await runCommand(ours, ["--host", "127.0.0.1", "--port", String(first.port)]);
    assertFailure(
      second,
      /^error: Cannot listen on 127\.0\.0\.1:\d+: the port is already in use \(is another server running\? --port 0 picks a free one\)$/,
    );
    await first.stop();
  });
}

for (const ours of TCP_SERVERS) {
  Deno.test({
    ...needsRoot(
      `${ours.name}, without the privilege to bind a low port, says so`,
      "setpriv drops a capability that only root has",
    ),
  }, async () => {
    // setpriv drops the one capability that lets root bind ports below 1024.
    const proc = new Proc("setpriv", [
      "--bounding-set=-net_bind_service",
      Deno.execPath(),
      ...commandArgs(ours, ["--port", "80"]),
    ]);
    assertFailure(
      await proc.finish(),
      /^error: Cannot listen on 0\.0\.0\.0:80: permission denied \(ports below 1024 need privileges; use a higher --port\)$/,
    );
  });

  Deno.test(`${ours.name}, asked to listen on an address of another machine, says so`, async () => {
    const result = await runCommand(ours, ["--host", "192.0.2.1", "--port", "0"]);
    assertFailure(
      result,
      /^error: Cannot listen on 192\.0\.2\.1:0: "192\.0\.2\.1" is not an address of this machine$/,
    );
  });
}

for (const theirs of STREAM_CLIENTS) {
  Deno.test(`${theirs.name} says when the connection is refused`, async () => {
    const result = await runCommand(theirs, ["--port", String(freePort())], "hello\n");
    assertFailure(
      result,
      /^error: Cannot connect to localhost:\d+: connection refused \(is the server running\?\)$/,
    );
  });
}

const UNKNOWN_HOST = [
  ...[lesson("tsTclnt.ts"), lesson("tsUclnt.ts"), lesson("tsTclntSS.ts"), lesson("tsTserv.ts")],
  ...[client("tcp"), client("udp"), client("ss"), tsd("tcp")],
];

for (const command of UNKNOWN_HOST) {
  Deno.test(`${command.name} says when the host is unknown`, async () => {
    const result = await runCommand(command, ["--host", "no-such-host.invalid"], "hello\n");
    assertFailure(
      result,
      /^error: Cannot (connect to|listen on|send to) no-such-host\.invalid:21567: unknown host "no-such-host\.invalid"$/,
    );
  });
}

/** An IPv6 client, and how it is told to go to `::1`: tsTclntV6 goes there unless told. */
const IPV6_CLIENTS: [client: Command, args: string[]][] = [
  [lesson("tsTclntV6.ts"), []],
  [client("tcp"), ["--host", "::1"]],
];

for (const [theirs, args] of IPV6_CLIENTS) {
  Deno.test({
    ...needsRoot(
      `${theirs.name} says when the machine has no IPv6`,
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
      ...commandArgs(theirs, args),
    ]);
    assertFailure(
      await proc.finish(),
      /^error: Cannot connect to \[::1\]:21567: IPv6 is not available on this machine$/,
    );
  });
}

for (const theirs of [lesson("tsUclnt.ts"), client("udp")]) {
  Deno.test(`${theirs.name} gives up after --timeout without a reply, exit 1`, async () => {
    const before = performance.now();
    const result = await runCommand(
      theirs,
      ["--port", String(freePort()), "--timeout", "0.3"],
      "anyone?\n",
    );
    assertFailure(
      result,
      /^error: No reply from localhost:\d+ within 0\.3 s \(is the server running\? UDP cannot tell a lost datagram from a missing server\)$/,
    );
    assert.ok(performance.now() - before < 3000);
  });
}

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

for (const theirs of STREAM_CLIENTS) {
  Deno.test(`${theirs.name} says when the server closes the connection mid-session`, async () => {
    await rudeServer(async (port) => {
      const result = await runCommand(
        theirs,
        ["--host", "127.0.0.1", "-p", String(port)],
        "hello\nagain\n",
      );
      assertFailure(
        result,
        /^error: The server (closed the connection before it answered|reset the connection)$/,
      );
      assert.equal(result.stdout, "> ");
    });
  });
}

/** A UDP server in a copy: its path there, and the arguments that make it one. */
const UDP_COPIES: [path: string, args: string[]][] = [
  ["scripts/tsUserv.ts", []],
  ["server/tsd.ts", ["--proto", "udp"]],
];

Deno.test("tsUserv or tsd --proto udp, tsLoad's UDP, or tsd --workers, copied without deno.json says it needs --unstable-net", async () => {
  // The template case: scripts/, server/ and lib/ copied somewhere with no deno.json to turn
  // UDP on.
  const dir = await Deno.makeTempDir({ dir: "/tmp" });
  try {
    const root = new URL("../", import.meta.url).pathname;
    const copy = new Proc("cp", ["-r", `${root}scripts`, `${root}lib`, `${root}server`, dir]);
    assert.equal((await copy.finish()).code, 0);
    await Deno.mkdir(`${dir}/bench`); // the load generator, and its engine
    for (const file of ["tsLoad.ts", "load_engine.ts"]) {
      await Deno.copyFile(`${root}bench/${file}`, `${dir}/bench/${file}`);
    }
    for (const [path, args] of UDP_COPIES) {
      const without = new Proc(Deno.execPath(), [
        "run",
        "-N",
        `${dir}/${path}`,
        ...args,
        "-p",
        "0",
      ]);
      assertFailure(await without.finish(), /^error: UDP needs Deno's --unstable-net flag/);
    }
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
    // --workers is tsd's alone: the lessons do not have it.
    const workers = new Proc(Deno.execPath(), [
      "run",
      "-N",
      `--allow-read=${dir}`,
      `${dir}/server/tsd.ts`,
      ...["-p", "0", "--workers", "2"],
    ]);
    assertFailure(await workers.finish(), /^error: --workers needs Deno's --unstable-net flag/);
    for (const [path, args] of UDP_COPIES) {
      const copied = new Proc(Deno.execPath(), [
        "run",
        "-N",
        "--unstable-net",
        `${dir}/${path}`,
        ...args,
        ...["-p", "0", "--host", "127.0.0.1"],
      ]);
      await copied.stdout.waitFor(/^waiting for message on 127\.0\.0\.1:\d+\.\.\.$/m);
      copied.kill("SIGTERM");
      assert.equal((await copied.finish()).code, 0, path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const { server: ours, client: theirs } of PAIRS.tcp) {
  Deno.test(`${theirs.name}, its output closed by its reader (| head), stops quietly`, async () => {
    await using server = await startCommand(ours, production(ours, "-q"));
    const client = spawnCommand(theirs, ["-p", String(server.port)], { stdin: true });
    await client.stdout.waitFor(/^> /);
    await client.stdout.stop(); // like `head` exiting after what it wanted
    const input = "line\n".repeat(2000);
    await client.write(input).catch(() => {}); // it may stop before it has read all of this
    const result = await client.finish();
    assert.equal(result.code, 0);
    assert.equal(result.stderr, "");
    await server.stop();
  });
}

/** Each client, the server it goes to, and where: the lessons', then client.ts with tsd. */
const CLIENTS: [client: Command, server: Command, host: string][] = [
  [lesson("tsTclnt.ts"), lesson("tsTserv.ts"), "127.0.0.1"],
  [lesson("tsTclntV6.ts"), lesson("tsTservV6.ts"), "::1"],
  [lesson("tsTclntSS.ts"), lesson("tsTservSS.ts"), "127.0.0.1"],
  [lesson("tsUclnt.ts"), lesson("tsUserv.ts"), "127.0.0.1"],
  [client("tcp"), tsd("tcp"), "127.0.0.1"],
  [client("ss"), tsd("ss"), "127.0.0.1"],
  [client("udp"), tsd("udp"), "127.0.0.1"],
];

for (const [theirs, ours, host] of CLIENTS) {
  Deno.test(`${theirs.name} says so when its output is a full disk, or its input a directory`, async () => {
    await using serving = await startCommand(ours, production(ours, "-q"), host);
    const args = ["--host", host, "-p", String(serving.port)];
    // The shell redirects, as a user would: `> /dev/full` fills at once, `< /` is a folder.
    const run = (redirect: string) =>
      new Proc("sh", [
        "-c",
        `exec "$@" ${redirect}`,
        "sh",
        Deno.execPath(),
        ...commandArgs(theirs, args),
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
