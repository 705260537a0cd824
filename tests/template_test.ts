/**
 * A template copy, as the README's "Using a lesson as a template" says to make one: a lesson
 * and `lib/`'s top-level files, without `lib/extras/`, in a folder of its own. A lesson's copy
 * serves plain TCP; the production server's, `server/` copied whole, serves TLS too.
 */

import assert from "node:assert/strict";
import { encoder, Proc, readBytes, started } from "./helpers.ts";
import { certs } from "../tools/certs.ts";

const root = new URL("../", import.meta.url);

/**
 * Copies the core of `lib/`, and each file of `files` (`scripts/tsTserv.ts`, say) to the path
 * it maps to (`scripts/my_server.ts`), to a new folder.
 */
async function templateCopy(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "ts-deno-template-" });
  await Deno.mkdir(`${dir}/lib`);
  for await (const entry of Deno.readDir(new URL("lib/", root))) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    await Deno.copyFile(new URL(`lib/${entry.name}`, root), `${dir}/lib/${entry.name}`);
  }
  for (const [from, to] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${to.replace(/\/[^/]*$/, "")}`, { recursive: true });
    await Deno.copyFile(new URL(from, root), `${dir}/${to}`);
  }
  return dir;
}

Deno.test("a copy of tsTserv.ts and lib/'s top-level files serves plain TCP; --trace says what to copy", async () => {
  const dir = await templateCopy({
    "scripts/tsTserv.ts": "scripts/my_server.ts",
    "scripts/tsTclnt.ts": "scripts/my_client.ts",
  });
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

Deno.test("a copy of server/ and lib/'s top-level files runs tsd with TLS for client.ts; --trace says what to copy", async () => {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(new URL("server/", root))) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
      files[`server/${entry.name}`] = `server/${entry.name}`;
    }
  }
  const dir = await templateCopy(files);
  try {
    const { ca, cert, key, dir: pems } = await certs();
    const tsd = `${dir}/server/tsd.ts`;
    const run = ["run", "-N", "--no-prompt", "--unstable-net", `--allow-read=${pems}`];
    const args = [...run, tsd, "--host", "127.0.0.1", "--port", "0"];
    await using server = await started(
      new Proc(Deno.execPath(), [...args, "--tls-cert", cert, "--tls-key", key]),
      /^waiting for connection on tls:127\.0\.0\.1:(\d+)\.\.\.$/m,
    );
    const client = new Proc(Deno.execPath(), [
      ...run,
      `${dir}/server/client.ts`,
      ...["--tls", "--ca", ca, "--host", "localhost", "--port", String(server.port)],
    ], { stdin: true });
    await client.write("from the copy\n");
    const talked = await client.finish();
    assert.equal(talked.code, 0, talked.stderr);
    assert.match(talked.stdout, /^> \[[^\]]+\] from the copy\n> $/);

    const stopped = await server.stop("SIGTERM");
    assert.equal(stopped.code, 0, stopped.stderr);

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
