/**
 * Past one machine: two of our servers behind a real HAProxy, run with the README's own
 * configuration and commands ("Past one machine"), on free ports and a socket of this run's.
 * The servers are tsd (`--proto ss`, or `tcp`), which has `--proxy-protocol` and TLS: a README
 * line that runs a lesson runs tsd instead. Skipped, with a line, where `haproxy` is not
 * installed.
 */

import assert from "node:assert/strict";
import { Proc, readToEnd, sleep, SOCKETS } from "./helpers.ts";
import { type Certs, certs } from "../tools/certs.ts";
import type { LoadResult } from "../bench/load_engine.ts";
import { runCommandLine } from "./processes.ts";
import { readBlock } from "./readme.ts";
import type { Proto } from "../server/proto.ts";

const README = await Deno.readTextFile(new URL("../server/README.md", import.meta.url));
const HAVE_HAPROXY = await new Deno.Command("haproxy", { args: ["-v"], stdout: "null" })
  .output().then((out) => out.success, () => false);
if (!HAVE_HAPROXY) console.log("haproxy_test.ts: skipped, haproxy is not installed");

/** The README's block after `<!-- haproxy-demo KEY -->`. */
const block = (key: string) => readBlock(README, `haproxy-demo ${key}`);

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * A README line that starts tsd in the background (`… & s1=$!`), made to start it from this
 * folder, speaking `proto`: the test keeps the process itself, as the shell keeps its PID.
 */
function asTsd(line: string, proto: Proto): string {
  assert.match(line, /\bserver\/tsd\.ts --proto \w+ .* & s\d=\$!$/);
  return line.replace(/ & s\d=\$!$/, "")
    .replace(/\bserver\/tsd\.ts --proto \w+/, `${ROOT}server/tsd.ts --proto ${proto}`);
}

/** The README's way to stop the first server: SIGTERM to its own PID, kept when it started. */
function stopsFirst(line: string): Deno.Signal {
  assert.match(line, /^kill -TERM "\$s1"$/);
  return "SIGTERM";
}

/** A free port on loopback (free a moment ago: HAProxy's configuration needs them ahead). */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/**
 * The README's demo with this run's ports and socket: its lines, its commands, and the rest;
 * with `tls`, its TLS servers and health check, with this run's certificates.
 */
class Demo implements AsyncDisposable {
  readonly ports = { 21567: freePort(), 21568: freePort(), 21569: freePort() };
  readonly admin = `${SOCKETS}/haproxy-${Deno.pid}-${Math.random().toString(36).slice(2)}.sock`;
  readonly servers: Proc[] = [];
  haproxy?: Proc;
  #config?: string;

  constructor(readonly tls?: Certs) {}

  /** `text`, with the README's ports, socket and certificates made this run's. */
  ours(text: string): string {
    const { tls } = this;
    text = text.replace(/\b2156[789]\b/g, (port) => String(this.ports[port as "21567"]))
      .replace(/"\$\{?XDG_RUNTIME_DIR\}?\/ts-haproxy\.sock"/g, this.admin);
    if (!tls) return text;
    return text.replace(/\b(cert|key|ca)\.pem\b/g, (_, name: "cert" | "key" | "ca") => tls[name]);
  }

  /**
   * Starts one of the README's servers, `line`. Its port was free a moment ago: if something
   * else has taken it since (an outgoing connection's port, on a busy machine), another is tried.
   */
  async startServer(line: string, proto: Proto): Promise<void> {
    const port = line.match(/--port (2156[89])\b/)![1] as "21568" | "21569";
    for (let tries = 1;; tries++) {
      const server = runCommandLine(asTsd(this.ours(line), proto));
      try {
        await server.stdout.waitFor(/waiting for connection on /);
        this.servers.push(server);
        return;
      } catch (err) {
        try {
          server.kill("SIGKILL");
        } catch { /* it has exited: a port in use, say */ }
        const { stderr } = await server.finish();
        if (tries === 3 || !/in use/.test(stderr)) throw new Error(`${err}\nstderr: ${stderr}`);
        this.ports[port] = freePort();
      }
    }
  }

  /**
   * Starts the README's two servers (as tsd `--proto proto`) and HAProxy; `frontend` adds
   * lines to HAProxy's frontend.
   */
  async start(proto: Proto = "ss", frontend: string[] = []): Promise<void> {
    const [first, second, haproxy] = block(this.tls ? "tls-run" : "run").split("\n");
    for (const line of [first, second]) await this.startServer(line, proto);
    let config = block("config");
    if (this.tls) config = config.replace(/^ +default-server .*$/m, block("tls-check"));
    for (const line of frontend) {
      config = config.replace(/^( +)default_backend /m, `$1${line}\n$&`);
    }
    this.#config = await Deno.makeTempFile({ prefix: "haproxy-", suffix: ".cfg" });
    await Deno.writeTextFile(this.#config, this.ours(config) + "\n");
    this.haproxy = runCommandLine(this.ours(haproxy).replace("haproxy.cfg", this.#config));
    // Up once the frontend answers; HAProxy's servers start up until a check says otherwise.
    for (let tries = 0;; tries++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.ports[21567] })).close();
        return;
      } catch (err) {
        if (tries === 50) throw err;
        await sleep(100);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const proc of [...this.servers, this.haproxy]) {
      try {
        proc?.kill("SIGKILL");
      } catch { /* it has exited */ }
      await proc?.finish().catch(() => {});
    }
    if (this.#config) await Deno.remove(this.#config);
    await Deno.remove(this.admin).catch(() => {});
  }
}

/** What HAProxy says of each server's state: `s1` and `s2`, each `UP` or not. */
async function serverStates(demo: Demo): Promise<Record<string, string>> {
  const said = await new Deno.Command("socat", {
    args: ["stdio", demo.admin],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = said.stdin.getWriter();
  await writer.write(new TextEncoder().encode("show stat\n"));
  await writer.close();
  const lines = new TextDecoder().decode((await said.output()).stdout).split("\n");
  // CSV: proxy name, server name, …, status (the 18th field).
  return Object.fromEntries(
    lines.map((line) => line.split(",")).filter(([proxy, name]) =>
      proxy === "servers" && /^s\d$/.test(name)
    )
      .map((fields) => [fields[1], fields[17]]),
  );
}

/** Runs `tsLoad --proto ss` through HAProxy for `seconds`, calling `midway` 1.5 s in. */
async function loadThrough(demo: Demo, seconds: number, midway: () => unknown) {
  const load = runCommandLine(
    `deno run -N --unstable-net bench/tsLoad.ts --proto ss -c 8 -d ${seconds} --warmup 0 ` +
      `--json -p ${demo.ports[21567]}`,
  );
  await sleep(1500);
  await midway();
  const { stdout, stderr } = await load.finish(seconds * 1000 + 10_000);
  assert.ok(stdout.startsWith("{"), stderr);
  return JSON.parse(stdout) as LoadResult;
}

/** The server's lines about clients: each names a load client via HAProxy, or HAProxy itself. */
function assertClientsNamed(log: string): number {
  const lines = log.split("\n").filter((line) => line.includes("connected from"));
  let viaBalancer = 0;
  for (const line of lines) {
    if (/^\.\.\.connected from: 127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+$/.test(line)) viaBalancer++;
    else assert.match(line, /^\.\.\.connected from: 127\.0\.0\.2:\d+ \(the balancer itself\)$/);
  }
  return viaBalancer;
}

Deno.test({
  name:
    "two tsd --proto ss behind HAProxy: one stopped mid-load, no reply wrong or cut, the clients' own addresses",
  ignore: !HAVE_HAPROXY,
  async fn() {
    await using demo = new Demo();
    await demo.start();
    const [s1, s2] = demo.servers;
    const result = await loadThrough(demo, 4, () => s1.kill("SIGTERM"));
    const { [`the server closed the connection`]: lost = 0, ...others } = result.errorKinds;
    assert.deepEqual(others, {}, "a wrong or cut reply");
    assert.ok(lost <= 25, `${lost} requests lost: more than the few HAProxy cannot retry`);
    assert.ok(result.requests > 500, `only ${result.requests} requests answered`);
    const stopped = await s1.finish();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(assertClientsNamed(stopped.stdout) > 0, "the stopped server served no one");
    s2.kill("SIGTERM");
    const other = await s2.finish();
    assert.ok(assertClientsNamed(other.stdout) > assertClientsNamed(stopped.stdout));
    assert.equal(other.stderr, "", "a server said something was wrong");
  },
});

Deno.test({
  name: "behind HAProxy, a server drained first, then stopped, loses no request",
  ignore: !HAVE_HAPROXY,
  async fn() {
    await using demo = new Demo();
    await demo.start();
    const [drain, readmeStop] = block("drain").split("\n").map((line) => demo.ours(line));
    assert.match(drain, /^echo "set server servers\/s1 state drain" \| socat stdio \S+$/);
    const signal = stopsFirst(readmeStop);
    const result = await loadThrough(demo, 4, async () => {
      const said = await new Deno.Command("sh", { args: ["-c", drain], stderr: "inherit" })
        .output();
      assert.ok(said.success, "socat could not reach HAProxy's admin socket");
      await sleep(300); // the connections it has are short: a line each
      demo.servers[0].kill(signal);
    });
    assert.deepEqual(result.errorKinds, {});
    assert.equal(result.errors, 0);
    assert.equal((await demo.servers[0].finish()).code, 0);
  },
});

Deno.test({
  name:
    "tsd --proto tcp behind HAProxy answers the book's client byte for byte, and logs who it is",
  ignore: !HAVE_HAPROXY,
  async fn() {
    await using demo = new Demo();
    await demo.start("tcp");
    const peers = new URL("./peers/book_peers.py", import.meta.url).pathname;
    const client = new Proc("python3", [peers, "tcp-client", String(demo.ports[21567])], {
      stdin: true,
    });
    await client.write("hello\nwörld, and more\n\n");
    const { code, stdout, stderr } = await client.finish();
    assert.equal(code, 0, stderr);
    const replies = stdout.split("\n").filter((line) => line.includes("["));
    assert.equal(replies.length, 2, stdout);
    assert.match(replies[0], /\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] hello$/);
    assert.match(replies[1], /\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] wörld, and more$/);
    let served = 0;
    for (const server of demo.servers) {
      server.kill("SIGTERM");
      served += assertClientsNamed((await server.finish()).stdout);
    }
    // The book's client, and the probe that saw HAProxy up.
    assert.ok(served >= 1, "no one came through HAProxy");
  },
});

Deno.test({
  name:
    "two TLS tsd --proto ss behind HAProxy with the README's TLS check stay up, serve TLS clients, and survive plain ones",
  ignore: !HAVE_HAPROXY,
  async fn() {
    const tls = await certs();
    await using demo = new Demo(tls);
    // HAProxy then reads a client's first bytes before it connects, and sends them in one write
    // with the PROXY header: the shape that once ended a TLS server.
    await demo.start("ss", [
      "tcp-request inspect-delay 1s",
      "tcp-request content accept if { req.len gt 0 }",
    ]);
    const port = String(demo.ports[21567]);
    const client = () =>
      new Proc(Deno.execPath(), [
        "run",
        "-N",
        `--allow-read=${tls.dir}`,
        `${ROOT}server/client.ts`,
        ...["--proto", "ss", "--tls", "--ca", tls.ca, "-p", port],
      ], { stdin: true });
    const asked = client();
    await asked.write("through HAProxy\n");
    const answer = await asked.finish();
    assert.equal(answer.code, 0, answer.stderr);
    assert.match(answer.stdout, /\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] through HAProxy/);
    for (const sent of ["hello\n", "A", "GET / HTTP/1.0\r\n\r\n"]) {
      using conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await conn.write(new TextEncoder().encode(sent));
      await readToEnd(conn).catch(() => {}); // closed, with TLS's alert
    }
    await sleep(4500); // two more health checks (every 2 s)
    assert.deepEqual(await serverStates(demo), { s1: "UP", s2: "UP" });
    const again = client();
    await again.write("still here\n");
    assert.equal((await again.finish()).code, 0);
    for (const server of demo.servers) {
      server.kill("SIGTERM");
      const { code, stdout, stderr } = await server.finish();
      assert.equal(code, 0, stderr);
      assert.equal(stderr, "");
      assert.doesNotMatch(stdout, /TLS handshake failed: .*(certificate|alert)/, "the check's TLS");
    }
  },
});
