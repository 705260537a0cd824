/**
 * A template copy, as the README's "Using a script as a template" says to make one: a script
 * and `lib/`'s top-level files, without `lib/extras/`, in a folder of its own.
 */

import assert from "node:assert/strict";
import { encoder, Proc, readBytes, started } from "./helpers.ts";

const root = new URL("../", import.meta.url);

/** Copies `scripts/<script>` (as `my_server.ts` or the like) and the core of `lib/` to a new folder. */
async function templateCopy(scripts: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "ts-deno-template-" });
  await Deno.mkdir(`${dir}/lib`);
  await Deno.mkdir(`${dir}/scripts`);
  for await (const entry of Deno.readDir(new URL("lib/", root))) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    await Deno.copyFile(new URL(`lib/${entry.name}`, root), `${dir}/lib/${entry.name}`);
  }
  for (const [from, to] of Object.entries(scripts)) {
    await Deno.copyFile(new URL(`scripts/${from}`, root), `${dir}/scripts/${to}`);
  }
  return dir;
}

Deno.test("a copy of tsTserv.ts and lib/'s top-level files serves plain TCP; --tls-cert says what to copy", async () => {
  const dir = await templateCopy({ "tsTserv.ts": "my_server.ts", "tsTclnt.ts": "my_client.ts" });
  try {
    const script = `${dir}/scripts/my_server.ts`;
    const args = ["run", "-N", script, "--host", "127.0.0.1", "--port", "0"];
    await using server = await started(
      new Proc(Deno.execPath(), args),
      /^waiting for connection on 127\.0\.0\.1:(\d+)\.\.\.$/m,
    );
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(encoder.encode("hello"));
    const reply = new TextDecoder().decode(await readBytes(conn, 27 + 5));
    assert.match(reply, /^\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] hello$/);

    const client = new Proc(Deno.execPath(), [
      "run",
      "-N",
      `${dir}/scripts/my_client.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(server.port),
    ], { stdin: true });
    await client.write("from the copy\n");
    const talked = await client.finish();
    assert.equal(talked.code, 0, talked.stderr);
    assert.match(talked.stdout, /^> \[[^\]]+\] from the copy\n> $/);

    const stopped = await server.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);

    const tls = await new Proc(Deno.execPath(), [
      ...args,
      "--tls-cert",
      "cert.pem",
      "--tls-key",
      "key.pem",
    ]).finish();
    assert.equal(tls.code, 1);
    assert.equal(
      tls.stderr,
      `error: --tls-cert needs ${dir}/server/transport.ts, which this copy lacks ` +
        "(copy server/ too)\n",
    );
    const traced = await new Proc(Deno.execPath(), [...args, "--trace"]).finish();
    assert.equal(traced.code, 1);
    assert.equal(
      traced.stderr,
      `error: --trace needs ${dir}/lib/extras/trace.ts, which this copy lacks ` +
        "(copy lib/extras/ too)\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
