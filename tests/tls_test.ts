/**
 * TLS: tsd with `--tls-cert`/`--tls-key`, client.ts with `--tls` (and `--ca`), each as tcp and
 * ss where both may differ (the lessons have no TLS), every failure one clear line, bad clients
 * costing no one else anything, and peers that are not ours (openssl s_client, Python's `ssl`,
 * socat) on either side. The behaviour tests shared with plain TCP run over both, by
 * `TRANSPORTS` (tcp_test, ss_test, shutdown_test, hardening_test, fuzz_test).
 */

import assert from "node:assert/strict";
import { SHUTDOWN_DEADLINE_MS } from "../lib/shutdown.ts";
import { certs } from "../tools/certs.ts";
import {
  encoder,
  memoryKiB,
  openFiles,
  Proc,
  type Result,
  runScript,
  sleep,
  spawnScript,
  TRANSPORTS,
  unstamped,
} from "./helpers.ts";
import { runClient, startTsd } from "./commands.ts";

const TLS = TRANSPORTS.find((transport) => transport.name === "tls")!;
const { ca, cert, key, dir, expired, expiredKey, otherName, otherNameKey } = await certs();
const READ = { denoFlags: [`--allow-read=${dir}`] };

/** Asserts exit code `code` and the single line `error: …` matching `message`. */
function assertError(result: Result, message: RegExp, code = 1): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, code === 2 ? 2 : 1, result.stderr);
  assert.match(lines[0], message);
}

Deno.test("tsd --proto tcp and ss: refuses bad certificate and key files, each in one line", async () => {
  const notPem = `${dir}/not.pem`;
  await Deno.writeTextFile(notPem, "hello\n");
  const cases: [string[], RegExp, number?][] = [
    [
      ["--tls-cert", cert],
      /^error: --tls-cert and --tls-key go together: give both, or neither$/,
      2,
    ],
    [["--tls-key", key], /^error: --tls-cert and --tls-key go together/, 2],
    [
      ["--tls-cert", `${dir}/none.pem`, "--tls-key", key],
      /^error: Cannot read --tls-cert .*none\.pem: no such file$/,
    ],
    [
      ["--tls-cert", dir, "--tls-key", key],
      /^error: Cannot read --tls-cert .*: it is a directory, not a PEM file$/,
    ],
    [
      ["--tls-cert", notPem, "--tls-key", key],
      /^error: Cannot listen on 127\.0\.0\.1:0 with TLS: --tls-cert holds no PEM certificate$/,
    ],
    [["--tls-cert", cert, "--tls-key", notPem], /with TLS: --tls-key holds no PEM private key$/],
    [
      ["--tls-cert", cert, "--tls-key", expiredKey],
      /with TLS: --tls-key is not the key of the certificate in --tls-cert$/,
    ],
  ];
  for (const [args, message, code] of cases) {
    for (const proto of ["tcp", "ss"]) {
      const result = await runScript(
        "tsd.ts",
        ["--proto", proto, "--host", "127.0.0.1", "-p", "0", ...args],
        undefined,
        READ,
      );
      assertError(result, message, code);
    }
  }
  // Without leave to read the files, or with leave for the certificate alone: a flag for both.
  const tls = ["-p", "0", "--tls-cert", cert, "--tls-key", key];
  for (const [granted, option, file] of [["", "cert", cert], [cert, "key", key]]) {
    const denoFlags = granted ? [`--allow-read=${granted}`] : [];
    const denied = await runScript("tsd.ts", tls, undefined, { denoFlags });
    const why = `reading it was not granted \\(run with --allow-read=${cert},${key}\\)`;
    assertError(denied, new RegExp(`^error: Cannot read --tls-${option} ${file}: ${why}$`));
  }
});

Deno.test("tsd and client.ts refuse, unread, a certificate, key or CA that is not a regular file of at most 1 MiB", async () => {
  const own = await Deno.makeTempDir({ prefix: "ts-deno-pem-" });
  try {
    const fifo = `${own}/fifo.pem`;
    const made = await new Proc("mkfifo", [fifo]).finish();
    assert.equal(made.code, 0, made.stderr);
    const big = `${own}/big.pem`; // a good certificate, and past 1 MiB of blank lines
    await Deno.writeTextFile(big, (await Deno.readTextFile(cert)) + "\n".repeat(1 << 20));
    const read = { denoFlags: [`--allow-read=${dir},${own},/dev/zero`] };
    const cannot = (option: string, file: string, why: string) =>
      new RegExp(`^error: Cannot read ${option} ${file}: ${why}$`);
    const fifoWhy = "it is a FIFO \\(a named pipe\\), not a PEM file";
    const cases: [string, string[], RegExp][] = [
      [
        "tsd.ts",
        ["--tls-cert", "/dev/zero", "--tls-key", key],
        cannot("--tls-cert", "/dev/zero", "it is a device, not a PEM file"),
      ],
      ["tsd.ts", ["--tls-cert", fifo, "--tls-key", key], cannot("--tls-cert", fifo, fifoWhy)],
      ["tsd.ts", ["--tls-cert", cert, "--tls-key", fifo], cannot("--tls-key", fifo, fifoWhy)],
      [
        "tsd.ts",
        ["--tls-cert", big, "--tls-key", key],
        cannot(
          "--tls-cert",
          big,
          "it is 1,0\\d\\d,\\d\\d\\d bytes, too big for a PEM certificate chain or key \\(1 MiB at most\\)",
        ),
      ],
      ["client.ts", ["--tls", "--ca", fifo], cannot("--ca", fifo, fifoWhy)],
      [
        "client.ts",
        ["--tls", "--ca", "/dev/zero"],
        cannot("--ca", "/dev/zero", "it is a device.*"),
      ],
    ];
    for (const [script, args, message] of cases) {
      // Before, a FIFO hung until killed (SIGKILL: not even SIGTERM ended it), and /dev/zero
      // grew its reader by some 300 MiB a second: each is bounded in time here.
      const result = await spawnScript(script, ["-p", "1", ...args], read).finish(5000);
      assertError(result, message);
    }
  } finally {
    await Deno.remove(own, { recursive: true });
  }
});

Deno.test("tsd warns, in one line at start, of a private key that others may read, and serves", async () => {
  const own = await Deno.makeTempDir({ prefix: "ts-deno-key-" });
  try {
    const open = `${own}/key.pem`;
    await Deno.copyFile(key, open);
    const root = new URL("../", import.meta.url).pathname.replace(/\/$/, ""); // for --workers
    const read = { denoFlags: ["--unstable-net", `--allow-read=${dir},${own},${root}`] };
    const warning = (who: string, mode: string) =>
      new RegExp(
        `^warning: --tls-key ${open} is a private key that ${who} may read ` +
          `\\(mode ${mode}\\): run chmod 600 ${open}$`,
      );
    const cases: [number, string[], RegExp | undefined][] = [
      [0o644, [], warning("every user", "644")],
      [0o640, [], warning("its group", "640")],
      [0o604, ["--workers", "2"], warning("every user", "604")], // once, not once a worker
      [0o600, [], undefined],
    ];
    for (const [mode, args, expected] of cases) {
      await Deno.chmod(open, mode);
      const tls = ["--tls-cert", cert, "--tls-key", open, ...args];
      await using server = await startTsd("ss", tls, "127.0.0.1", read);
      const client = ["-p", String(server.port), ...TLS.client.args];
      const served = await runClient("ss", client, "hi\n", READ);
      assert.equal(served.code, 0, served.stderr);
      assert.match(unstamped(served.stdout), /\[STAMP\] hi\n/);
      const { stderr } = await server.stop();
      if (expected === undefined) assert.equal(stderr, "");
      else {
        const lines = stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, stderr);
        assert.match(lines[0], expected);
      }
    }
  } finally {
    await Deno.remove(own, { recursive: true });
  }
});

Deno.test("client.ts --tls, --proto tcp and ss, checks tsd's certificate: its CA, its name, its dates", async () => {
  // What the client says, and what the server logs of it.
  const cases: [string[], string[], RegExp, RegExp][] = [
    [
      [],
      ["--tls"],
      /^error: Cannot connect to localhost:\d+: the server's certificate is not signed by a CA this machine trusts \(add its CA with --ca FILE\)$/,
      /: the client refused our certificate \(UnknownCA: does it trust our CA\?\)$/m,
    ],
    [
      ["--tls-cert", otherName, "--tls-key", otherNameKey],
      ["--tls", "--ca", ca],
      /^error: Cannot connect to localhost:\d+: the server's certificate is not valid for the name "localhost" \(only for other\.test\)$/,
      /: the client refused our certificate \(BadCertificate: is our certificate for the name it asked for\?\)$/m,
    ],
    [
      ["--tls-cert", expired, "--tls-key", expiredKey],
      ["--tls", "--ca", ca],
      /^error: Cannot connect to localhost:\d+: the server's certificate has expired$/,
      /: the client refused our certificate \(CertificateExpired: is our certificate valid now\?\)$/m,
    ],
  ];
  for (const [serverArgs, clientArgs, message, logged] of cases) {
    const tlsArgs = serverArgs.length > 0 ? serverArgs : TLS.server.args;
    await using server = await startTsd("tcp", tlsArgs, "127.0.0.1", READ);
    for (const proto of ["tcp", "ss"] as const) {
      const result = await runClient(
        proto,
        ["-p", String(server.port), ...clientArgs],
        "hi\n",
        READ,
      );
      assertError(result, message);
    }
    assert.match((await server.stop()).stdout, logged);
  }
  const result = await runClient("tcp", ["--ca", ca], "hi\n", READ);
  assertError(result, /^error: --ca goes with --tls$/, 2);
});

Deno.test("plain meets TLS: tsd and client.ts each say what they see", async () => {
  {
    await using server = await startTsd("tcp", TLS.server.args, "127.0.0.1", TLS.server);
    const plain = await runClient("tcp", ["-p", String(server.port)], "hello\n");
    assertError(
      plain,
      /^error: The server answered with a TLS alert: it speaks TLS \(run with --tls\)$/,
    );
    const log = (await server.stop()).stdout;
    assert.match(
      log,
      /^\.\.\.closing 127\.0\.0\.1:\d+: TLS handshake failed: the client does not speak TLS/m,
    );
  }
  {
    await using server = await startTsd("tcp");
    const tls = await runClient(
      "tcp",
      ["-p", String(server.port), ...TLS.client.args],
      "hello\n",
      READ,
    );
    assertError(
      tls,
      /^error: Cannot connect to localhost:\d+: the server does not speak TLS \(is it a plain server\? then leave out --tls\)$/,
    );
  }
});

/** Reads `conn` to its end (an alert, perhaps, first); resolves when it ends. */
async function ended(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(256);
  try {
    while ((await conn.read(buffer)) !== null);
  } catch {
    // reset: ended too
  } finally {
    conn.close();
  }
}

Deno.test("tsd over TLS gives up on clients that never finish a handshake, and serves others meanwhile", async () => {
  const args = [...TLS.server.args, "--handshake-timeout", "1"];
  await using server = await startTsd("tcp", args, "127.0.0.1", TLS.server);
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.port });
  // 50 that connect and say nothing, 50 that send something that is not TLS.
  const silent = await Promise.all(Array.from({ length: 50 }, connect));
  const garbage = await Promise.all(Array.from({ length: 50 }, async () => {
    const conn = await connect();
    await conn.write(encoder.encode("GET / HTTP/1.0\r\n\r\n")).catch(() => {});
    return conn;
  }));
  const before = performance.now();
  const good = await runClient(
    "tcp",
    ["-p", String(server.port), ...TLS.client.args],
    "hi\n",
    READ,
  );
  assert.equal(good.code, 0, good.stderr);
  assert.equal(unstamped(good.stdout), "> [STAMP] hi\n> ");
  assert.ok(performance.now() - before < 3000, "no one waited for the bad clients");
  await Promise.all(garbage.map(ended)); // refused at once
  await sleep(1500); // past the deadline
  const log = (await server.stop()).stdout;
  assert.equal(log.match(/: no TLS handshake within 1 s$/gm)?.length, 50, log);
  assert.equal(log.match(/: TLS handshake failed: the client does not speak TLS/gm)?.length, 50);
  await Promise.all(silent.map(ended));
});

/**
 * A Python TLS server with our certificate, for one connection `t` (over the socket `conn`),
 * that `body` serves; its port once it listens.
 */
async function pythonTlsServer(body: string[]) {
  const script = [
    "import socket, ssl, time",
    `ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('${cert}', '${key}')`,
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True)",
    "conn = s.accept()[0]; t = ctx.wrap_socket(conn, server_side=True)",
    ...body,
  ].join("\n");
  const server = new Proc("python3", ["-c", script]);
  const [, port] = await server.stdout.waitFor(/^(\d+)$/m);
  return { server, port };
}

Deno.test("client.ts --tls: a server that closes without close_notify ends the session normally", async () => {
  // A server that answers, then closes the TCP connection under TLS without a word.
  const { server, port } = await pythonTlsServer([
    "data = t.recv(1024); t.sendall(('[%s] ' % time.ctime()).encode() + data)",
    "t.shutdown(socket.SHUT_RDWR); t.close()  # no close_notify: that is unwrap()",
  ]);
  const client = await runClient("tcp", ["-p", port, ...TLS.client.args], "one\ntwo\n", READ);
  assert.match(
    client.stderr,
    /^error: The server closed the connection before it answered\n$/,
    "the next line finds it gone",
  );
  assert.equal(unstamped(client.stdout), "> [STAMP] one\n> ");
  assert.equal((await server.finish()).code, 0, "the Python server ends cleanly");
});

Deno.test("tsd over TLS: a client that leaves without close_notify has just ended its session", async () => {
  await using server = await startTsd("tcp", TLS.server.args, "127.0.0.1", TLS.server);
  const python = new Proc("python3", [
    "-c",
    [
      "import socket, ssl, sys",
      `ctx = ssl.create_default_context(cafile='${ca}')`,
      `t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', ${server.port})), server_hostname='localhost')`,
      "t.sendall(b'bye'); sys.stdout.write(t.recv(1024).decode())",
      "t.shutdown(socket.SHUT_RDWR); t.close()  # no close_notify: that is unwrap()",
    ].join("\n"),
  ]);
  const result = await python.finish();
  assert.equal(unstamped(result.stdout), "[STAMP] bye", result.stderr);
  const log = await server.stop();
  assert.equal(log.stderr, "");
  assert.doesNotMatch(log.stdout, /went away|closing/, "an end like any other");
});

Deno.test("interop: openssl s_client, Python ssl and socat talk to tsd over TLS", async () => {
  await using server = await startTsd("tcp", TLS.server.args, "127.0.0.1", TLS.server);
  const port = String(server.port);
  const sClient = new Proc("sh", [
    "-c",
    `(printf 'from openssl'; sleep 1) | openssl s_client -brief -verify_return_error -CAfile "$0" -connect 127.0.0.1:"$1"`,
    ca,
    port,
  ]);
  const python = new Proc("python3", [
    "-c",
    [
      "import socket, ssl, sys",
      `ctx = ssl.create_default_context(cafile='${ca}')`,
      `t = ctx.wrap_socket(socket.create_connection(('localhost', ${port})), server_hostname='localhost')`,
      "t.sendall(b'from python'); sys.stdout.write(t.recv(1024).decode()); t.close()",
    ].join("\n"),
  ]);
  const socat = new Proc("sh", [
    "-c",
    `(printf 'from socat'; sleep 1) | socat - OPENSSL:localhost:"$1",cafile="$0"`,
    ca,
    port,
  ]);
  for (
    const [proc, said] of [[sClient, "from openssl"], [python, "from python"], [
      socat,
      "from socat",
    ]] as const
  ) {
    const result = await proc.finish();
    assert.equal(unstamped(result.stdout), `[STAMP] ${said}`, result.stderr);
  }
});

Deno.test("interop: client.ts --tls, --proto tcp and ss, talks to Python ssl and socat servers", async () => {
  const { server, port } = await pythonTlsServer([
    "while True:",
    "    data = t.recv(1024)",
    "    if not data: break",
    "    t.sendall(('[%s] ' % time.ctime()).encode() + data)",
    "t.close()",
  ]);
  const client = await runClient("tcp", ["-p", port, ...TLS.client.args], "one\ntwo\n", READ);
  assert.equal(client.code, 0, client.stderr);
  assert.equal(unstamped(client.stdout), "> [STAMP] one\n> [STAMP] two\n> ");
  assert.equal((await server.finish()).code, 0, "the Python server ends cleanly");

  // socat answers each line with the stamp the way tsd --proto ss does, via a shell.
  const free = (() => {
    using probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return probe.addr.port;
  })();
  const answer = `${dir}/answer.sh`; // socat's own syntax has no room for the date's colons
  await Deno.writeTextFile(
    answer,
    `read line; printf '[%s] %s\\n' "$(LC_ALL=C date '+%a %b %e %H:%M:%S %Y')" "$line"\n`,
  );
  const socat = new Proc("socat", [
    `OPENSSL-LISTEN:${free},bind=127.0.0.1,reuseaddr,cert=${cert},key=${key},verify=0`,
    `SYSTEM:sh ${answer}`,
  ]);
  await sleep(500);
  try {
    const ss = await runClient("ss", ["-p", String(free), ...TLS.client.args], "hello\n", READ);
    assert.equal(ss.code, 0, ss.stderr);
    assert.equal(unstamped(ss.stdout), "> [STAMP] hello\n> ");
  } finally {
    try {
      socat.kill("SIGTERM");
    } catch {
      // it served its one connection and left
    }
    await socat.finish();
  }
});

Deno.test("server/README.md's commands make a local CA and a certificate that tsd and client.ts use", async () => {
  const readme = await Deno.readTextFile(new URL("../server/README.md", import.meta.url));
  const make = readme.match(/\*\*A local CA of your own\*\*[^]*?```sh\n([^]*?)```/)?.[1];
  assert.ok(make, "the README gives the commands");
  const work = await Deno.makeTempDir({ dir: "/tmp" });
  try {
    const made = await new Proc("sh", ["-ec", `cd "$0" && ${make}`, work]).finish();
    assert.equal(made.code, 0, made.stderr);
    const read = { denoFlags: [`--allow-read=${work}`] };
    const files = ["--tls-cert", `${work}/cert.pem`, "--tls-key", `${work}/key.pem`];
    await using server = await startTsd("tcp", files, "127.0.0.1", read);
    const args = ["-p", String(server.port), "--tls", "--ca", `${work}/ca.pem`];
    const client = await runClient("tcp", args, "hello\n", read);
    assert.equal(client.code, 0, client.stderr);
    assert.equal(unstamped(client.stdout), "> [STAMP] hello\n> ");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Waits until `pid` holds at most `most` descriptors, `ms` at most; how many it holds then. */
async function descriptorsFallTo(pid: number, most: number, ms = 5000): Promise<number> {
  const deadline = performance.now() + ms;
  let open: number;
  while ((open = await openFiles(pid)) > most && performance.now() < deadline) await sleep(100);
  return open;
}

/** Whether the server ends `conn` within `ms` (a reset counts); closes it either way. */
async function endsWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(256);
  const reading = (async () => {
    try {
      while ((await conn.read(buffer)) !== null);
    } catch {
      // reset by the server (an end too), or closed by us below
    }
    return true;
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(resolve, ms, false));
  const ends = await Promise.race([reading, late]);
  clearTimeout(timer);
  conn.close();
  await reading;
  return ends;
}

Deno.test("tsd over TLS gives back what clients that never say hello took: memory stays level, wave after wave", async () => {
  const args = [...TLS.server.args, "-q", "--handshake-timeout", "1"];
  await using server = await startTsd("tcp", args, "127.0.0.1", TLS.server);
  const pid = server.proc.child.pid;
  const baseline = await openFiles(pid);
  const rss = async () => Math.round((await memoryKiB(pid, "VmRSS")) / 1024); // MiB
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const start = await rss();
  // Two waves of 300 that connect and say nothing; the server ends each at the deadline.
  const after: number[] = [];
  for (let wave = 0; wave < 2; wave++) {
    const silent = await Promise.all(Array.from({ length: 300 }, connect));
    await Promise.all(silent.map(ended));
    assert.ok((await descriptorsFallTo(pid, baseline)) <= baseline, "descriptors come back");
    await sleep(500);
    after.push(await rss());
  }
  const good = await runClient(
    "tcp",
    ["-p", String(server.port), ...TLS.client.args],
    "hi\n",
    READ,
  );
  assert.equal(unstamped(good.stdout), "> [STAMP] hi\n> ", "others are served");
  // Measured: 45 -> 54 -> 60 MiB; before each connection's TLS waited for its first bytes,
  // 45 -> 76 -> 100 (a TLS socket and a 16 KiB buffer each, kept by fragments and V8's heap).
  const figures = `RSS ${start} MiB at the start, ${after.join(" and ")} after each wave`;
  assert.ok(after[1] - start < 30, figures);
  assert.ok(after[1] - after[0] < 12, figures);
});

/** The first bytes of a ClientHello: a handshake record that never comes whole. */
const HELLO_START = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);

Deno.test("tsd over TLS frees the descriptor of each client it gives up on: handshake, cap, idle", async () => {
  const args = [...TLS.server.args, "--handshake-timeout", "1", "--idle-timeout", "1"];
  await using server = await startTsd(
    "tcp",
    [...args, "--max-conns", "60"],
    "127.0.0.1",
    TLS.server,
  );
  const pid = server.proc.child.pid;
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await runClient("tcp", ["-p", String(server.port), ...TLS.client.args], "hi\n", READ);
  const baseline = await openFiles(pid);

  // 40 silent, 20 that start a hello and stop: the server is full. 20 more are refused at once.
  const silent = await Promise.all(Array.from({ length: 40 }, connect));
  const trickling = await Promise.all(Array.from({ length: 20 }, async () => {
    const conn = await connect();
    await conn.write(HELLO_START);
    return conn;
  }));
  await sleep(300);
  const refused = await Promise.all(Array.from({ length: 20 }, connect));
  const refusedEnded = await Promise.all(refused.map((conn) => endsWithin(conn, 1000)));
  // Past the handshake deadline, while the clients still hold their ends, each is closed.
  const afterHandshakes = await descriptorsFallTo(pid, baseline);
  const waiting = [...silent, ...trickling];
  const waitingEnded = await Promise.all(waiting.map((conn) => endsWithin(conn, 1000)));

  // A client that finishes its handshake, then sends and never reads: its replies stall, and
  // once idle, it is cut off.
  const idle = await TLS.connect(server.port);
  const flood = new Uint8Array(64 * 1024);
  const sending = (async () => {
    try {
      for (let i = 0; i < 256; i++) await idle.write(flood);
    } catch { /* closed by the server, or by us */ }
  })();
  await sleep(1000 + SHUTDOWN_DEADLINE_MS);
  const afterIdle = await descriptorsFallTo(pid, baseline);
  const idleEnded = await endsWithin(idle, 1000);
  await sending;

  const log = (await server.stop()).stdout;
  const count = (ends: boolean[]) => ends.filter(Boolean).length;
  const figures = `refused and closed: ${count(refusedEnded)} of 20; closed at the handshake ` +
    `deadline: ${count(waitingEnded)} of 60; idle one closed: ${idleEnded}; descriptors: ` +
    `${baseline} before, ${afterHandshakes} past the handshake deadline, ${afterIdle} with the ` +
    "idle one cut off";
  assert.equal(count(refusedEnded), 20, figures);
  assert.equal(count(waitingEnded), 60, figures);
  assert.ok(idleEnded, figures);
  assert.ok(afterHandshakes <= baseline, figures);
  assert.ok(afterIdle <= baseline, figures);
  assert.equal(log.match(/: no TLS handshake within 1 s$/gm)?.length, 60, log);
  assert.doesNotMatch(
    log,
    /connected from: .*\n\.\.\.too many/,
    "a refused client is not 'connected'",
  );
});

/**
 * What a TLS client can send after a good handshake that breaks TLS: each goes on the TCP socket
 * under Python's `ssl`, as the bytes of a peer that is broken, or an attacker in the middle.
 */
const BROKEN_RECORDS: Record<string, string> = {
  "not TLS": "b'GET / HTTP/1.0\\r\\n\\r\\n'",
  "random bytes": "os.urandom(64)",
  "a bad MAC": "b'\\x17\\x03\\x03\\x00\\x20' + os.urandom(32)", // application data, forged
  "an alert in the clear": "b'\\x15\\x03\\x03\\x00\\x02\\x02\\x28'", // must be encrypted by now
};

Deno.test("tsd over TLS closes at once a client whose record breaks TLS, in a line a second that says why", async () => {
  for (const proto of ["tcp", "ss"] as const) {
    await using server = await startTsd(
      proto,
      ["-q", ...TLS.server.args],
      "127.0.0.1",
      TLS.server,
    );
    // For each kind, 10 clients: a handshake (and for tcp a request answered), then the bytes;
    // how many of the 10 the server closes (end-of-file or reset) within 1 s of them.
    const python = new Proc("python3", [
      "-c",
      [
        "import json, os, socket, ssl, time",
        `ctx = ssl.create_default_context(cafile='${ca}')`,
        "closed = {}",
        ...Object.entries(BROKEN_RECORDS).flatMap(([kind, bytes]) => [
          "conns = []",
          "for _ in range(10):",
          `    t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', ${server.port})), server_hostname='localhost')`,
          proto === "tcp" ? "    t.sendall(b'hi'); t.recv(1024)" : "    pass",
          "    conns.append((t, socket.socket(fileno=os.dup(t.fileno()))))",
          `for t, raw in conns: raw.sendall(${bytes})`,
          `deadline = time.monotonic() + 1; closed['${kind}'] = 0`,
          "for t, raw in conns:",
          "    raw.settimeout(max(0.001, deadline - time.monotonic()))",
          "    try:",
          "        while raw.recv(4096): pass  # an alert may come first",
          `        closed['${kind}'] += 1`,
          `    except ConnectionResetError: closed['${kind}'] += 1`,
          "    except socket.timeout: pass",
          "    raw.close(); t.close()",
        ]),
        "print(json.dumps(closed))",
      ].join("\n"),
    ]);
    const result = await python.finish();
    assert.equal(result.code, 0, result.stderr);
    const every = Object.fromEntries(Object.keys(BROKEN_RECORDS).map((kind) => [kind, 10]));
    assert.deepEqual(JSON.parse(result.stdout), every, `${proto}: closed within 1 s, of 10 each`);
    const good = await runClient(
      proto,
      ["-p", String(server.port), ...TLS.client.args],
      "hi\n",
      READ,
    );
    assert.equal(unstamped(good.stdout), "> [STAMP] hi\n> ", `${proto}: others are served`);
    // A line a second at most, with how many, each naming its cause; never a stack.
    const log = (await server.stop()).stderr;
    const lines = log.split("\n").filter(Boolean);
    const said = lines.map((line) =>
      line.match(
        /^\.\.\.closing 127\.0\.0\.1:\d+(?: \(and (\d+) more that broke the protocol in the last second\))?: the client broke TLS: it sent (.*)$/,
      )
    );
    assert.ok(said.every(Boolean), log);
    assert.ok(lines.length <= 4, log);
    assert.equal(said.reduce((sum, match) => sum + 1 + Number(match![1] ?? 0), 0), 40, log);
    assert.match(log, /it sent bytes that are not TLS records \(/, log); // the first kind
    assert.match(log, /it sent a TLS record that does not decrypt \(/, log); // the last
  }
});
