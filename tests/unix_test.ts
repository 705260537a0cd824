/**
 * Unix domain sockets (`--unix PATH`) for the stream scripts: the socket file's rules (stale,
 * in use, not a socket, too long, owner-only), permissions, and peers that are not ours. The
 * behaviour tests shared with TCP run over a Unix socket too, by `TRANSPORTS`.
 */

import assert from "node:assert/strict";
import { needsRoot, Proc, type Result, runScript, spawnScript, unstamped } from "./helpers.ts";

/** A fresh socket path, and the `deno run` flags that let a script use it. */
function socketPath(name: string) {
  const path = `/tmp/ts-deno-unix-${name}-${Deno.pid}.sock`;
  try {
    Deno.removeSync(path);
  } catch {
    // not there
  }
  return { path, denoFlags: [`--allow-read=${path}`, `--allow-write=${path}`] };
}

/** Starts a server on `path`; resolves once it says it listens. */
async function serveOn(script: string, path: string, denoFlags: string[], args: string[] = []) {
  const proc = spawnScript(script, ["--unix", path, ...args], { denoFlags });
  await proc.stdout.waitFor(/^waiting for \w+ on unix:.+\.\.\.$/m);
  return proc;
}

function assertError(result: Result, message: RegExp, code = 1): void {
  assert.equal(result.code, code, result.stderr);
  assert.match(result.stderr.split("\n")[0], message);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

// A stream server and a datagram one; the datagram one replies to each client's own socket
// file, so it needs leave to write where clients bind (/tmp).
const KINDS = [
  {
    script: "tsTserv.ts",
    access: (path: string) => [`--allow-read=${path}`, `--allow-write=${path}`],
  },
  { script: "tsUserv.ts", access: () => ["--allow-read=/tmp", "--allow-write=/tmp"] },
];

for (const { script, access } of KINDS) {
  Deno.test(`${script}: the socket file is owner-only, removed at a clean stop, taken over when stale, kept when live`, async () => {
    const { path } = socketPath(`file-${script}`);
    const denoFlags = access(path);
    const server = await serveOn(script, path, denoFlags);
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600, "only its owner may use it");
    const second = await runScript(script, ["--unix", path], undefined, { denoFlags });
    assertError(
      second,
      new RegExp(`^error: Cannot listen on unix:${path}: it is in use by a running server$`),
    );
    server.kill("SIGINT");
    assert.equal((await server.finish()).code, 0);
    assert.ok(!(await exists(path)), "a clean stop removes the file");

    // A server that died leaves its file: the next one takes the path over.
    const dead = await serveOn(script, path, denoFlags);
    dead.kill("SIGKILL");
    await dead.finish().catch(() => {});
    assert.ok(await exists(path), "a stale file is left");
    const again = await serveOn(script, path, denoFlags, ["--unix-mode", "660"]);
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o660);
    again.kill("SIGTERM");
    assert.equal((await again.finish()).code, 0);
  });
}

Deno.test("a path that is not a socket, or too long, or not granted, is one clear line", async () => {
  const { path, denoFlags } = socketPath("plain");
  await Deno.writeTextFile(path, "not a socket\n");
  try {
    const result = await runScript("tsTserv.ts", ["--unix", path], undefined, { denoFlags });
    assertError(
      result,
      new RegExp(`^error: Cannot listen on unix:${path}: it exists, and is not a socket$`),
    );
    assert.equal(await Deno.readTextFile(path), "not a socket\n", "never removed");
  } finally {
    await Deno.remove(path);
  }
  const long = `/tmp/${"x".repeat(120)}.sock`;
  const tooLong = await runScript("tsTserv.ts", ["--unix", long]);
  assertError(tooLong, /: the path is too long for a Unix socket \(at most 107 bytes\)$/);
  const denied = await runScript("tsTserv.ts", ["--unix", path]);
  assertError(
    denied,
    new RegExp(`: read access to ${path} was not granted \\(run with --allow-read=${path}\\)$`),
  );
  const missing = await runScript("tsTclnt.ts", ["--unix", path], "hi\n", { denoFlags });
  assertError(
    missing,
    new RegExp(
      `^error: Cannot connect to unix:${path}: no such socket \\(is the server running\\?\\)$`,
    ),
  );
  const cases: [string, string[], RegExp][] = [
    ["tsTserv.ts", ["--unix", path, "--unix-mode", "999"], /--unix-mode must be 3 octal digits/],
    ["tsTclnt.ts", ["--unix", path, "--tls"], /^error: --tls is for TCP, not --unix$/],
  ];
  for (const [script, args, message] of cases) {
    assertError(await runScript(script, args), message, 2);
  }
});

Deno.test({
  ...needsRoot("another user cannot connect to, or send to, an owner-only socket", "setpriv"),
}, async () => {
  const asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
  const { path, denoFlags } = socketPath("owner");
  const server = await serveOn("tsTserv.ts", path, denoFlags);
  try {
    const nobody = await new Proc("setpriv", [
      ...asNobody,
      ...["socat", "-", `UNIX-CONNECT:${path}`],
    ]).finish();
    assert.notEqual(nobody.code, 0);
    assert.match(nobody.stderr, /Permission denied/);
  } finally {
    server.kill("SIGTERM");
    await server.finish();
  }
  const datagrams = await serveOn("tsUserv.ts", path, CLIENT_ACCESS.denoFlags);
  try {
    const nobody = await new Proc("setpriv", [
      ...asNobody,
      ...["sh", "-c", `printf x | socat - UNIX-SENDTO:"$0"`, path],
    ]).finish();
    assert.notEqual(nobody.code, 0);
    assert.match(nobody.stderr, /Permission denied/);
  } finally {
    datagrams.kill("SIGTERM");
    await datagrams.finish();
  }
});

Deno.test("interop over Unix sockets: Python, socat and nc as clients of tsTserv", async () => {
  const { path, denoFlags } = socketPath("interop");
  const server = await serveOn("tsTserv.ts", path, denoFlags);
  try {
    const clients: [string[], string][] = [
      [[
        "python3",
        "-c",
        `import socket; s = socket.socket(socket.AF_UNIX); s.connect('${path}'); s.sendall(b'from python'); print(s.recv(1024).decode(), end='')`,
      ], "from python"],
      [
        ["sh", "-c", `(printf 'from socat'; sleep 0.5) | socat - UNIX-CONNECT:"$0"`, path],
        "from socat",
      ],
      [["sh", "-c", `printf 'from nc' | nc -U -N "$0"`, path], "from nc"],
    ];
    for (const [command, said] of clients) {
      const result = await new Proc(command[0], command.slice(1)).finish();
      assert.equal(unstamped(result.stdout), `[STAMP] ${said}`, result.stderr);
    }
  } finally {
    server.kill("SIGTERM");
    assert.equal((await server.finish()).code, 0);
  }
});

/** Leave to use sockets under /tmp: a datagram client's own, or the clients' a server replies to. */
const CLIENT_ACCESS = { denoFlags: ["--allow-read=/tmp", "--allow-write=/tmp"] };

Deno.test("datagrams: the client's own socket, and what it says when it has no server or no folder", async () => {
  const { path } = socketPath("dgram");
  const server = await serveOn("tsUserv.ts", path, CLIENT_ACCESS.denoFlags);
  const client = await runScript("tsUclnt.ts", ["--unix", path], "hi\n", CLIENT_ACCESS);
  assert.equal(unstamped(client.stdout), "> [STAMP] hi\n> ", client.stderr);
  server.kill("SIGTERM");
  const log = (await server.finish()).stdout;
  assert.match(log, /returned to: unix:\/tmp\/tsUclnt-\w+\/client\.sock$/m);

  const missing = await runScript("tsUclnt.ts", ["--unix", path], "hi\n", CLIENT_ACCESS);
  assertError(
    missing,
    new RegExp(
      `^error: Cannot send to unix:${path}: no such socket \\(is the server running\\?\\)$`,
    ),
  );
  const noTemp = await runScript("tsUclnt.ts", ["--unix", path], "hi\n");
  assertError(noTemp, /^error: Cannot make a folder for our socket .*--allow-write=\/tmp/);
  const ours = await Array.fromAsync(Deno.readDir("/tmp"));
  assert.ok(!ours.some((entry) => entry.name.startsWith("tsUclnt-")), "no client folder left");
});

for (const script of ["tsUserv.ts", "tsUservSS.ts"]) {
  Deno.test(`datagrams: ${script} logs a sender with no path, or one it may not write to, in one line`, async () => {
    const { path, denoFlags } = socketPath(`senders-${script}`);
    // Leave to use its own file only: not the clients'.
    const server = await serveOn(script, path, denoFlags);
    try {
      const python = [
        "import socket",
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
        `s.sendto(b'unbound', '${path}')`,
      ].join("\n");
      assert.equal((await new Proc("python3", ["-c", python]).finish()).code, 0);
      await server.stderr.waitFor(
        /^\.\.\.cannot reply to unix:: it has no address \(a Unix datagram client must bind a path\)$/m,
      );
      const client = await runScript(
        "tsUclnt.ts",
        ["--unix", path, "--timeout", "0.5"],
        "hi\n",
        CLIENT_ACCESS,
      );
      assertError(client, /within 0\.5 s \(the server is there, but did not answer/);
      await server.stderr.waitFor(/^\.\.\.cannot reply to unix:\/tmp\/tsUclnt-.*leave to reach/m);
    } finally {
      server.kill("SIGTERM");
      assert.equal((await server.finish()).code, 0);
    }
  });
}

// Python's socketserver over AF_UNIX, serving two requests, each with the stamp and what it read.
const PYTHON_SERVERS = [
  {
    kind: "UnixStreamServer",
    handler: "StreamRequestHandler",
    read: "readline",
    client: "tsTclntSS.ts",
  },
  {
    kind: "UnixDatagramServer",
    handler: "DatagramRequestHandler",
    read: "read",
    client: "tsUclnt.ts",
  },
];

for (const { kind, handler, read, client } of PYTHON_SERVERS) {
  Deno.test(`${client} talks to Python's socketserver.${kind}`, async () => {
    const { path, denoFlags } = socketPath(`python-${read}`);
    const python = [
      "import socketserver, time",
      `class Handler(socketserver.${handler}):`,
      "    def handle(self):",
      `        self.wfile.write(('[%s] ' % time.ctime()).encode() + self.rfile.${read}())`,
      `server = socketserver.${kind}('${path}', Handler)`,
      "print('listening', flush=True); server.handle_request(); server.handle_request()",
    ].join("\n");
    const book = new Proc("python3", ["-c", python]);
    await book.stdout.waitFor(/^listening$/m);
    try {
      // A datagram client binds a socket of its own under /tmp.
      const access = client === "tsUclnt.ts" ? CLIENT_ACCESS : { denoFlags };
      const result = await runScript(client, ["--unix", path], "one\ntwo\n", access);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(unstamped(result.stdout), "> [STAMP] one\n> [STAMP] two\n> ");
      assert.equal((await book.finish()).code, 0);
    } finally {
      await Deno.remove(path).catch(() => {});
    }
  });
}
