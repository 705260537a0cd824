import assert from "node:assert/strict";

Deno.test("certs() removes its folder, private keys and all, when the test run ends", async () => {
  // A test file of its own, run to its end by `deno test`, that makes the certificates.
  const work = await Deno.makeTempDir({ prefix: "ts-deno-certs-probe-" });
  try {
    const probe = `${work}/probe_test.ts`;
    const certs = new URL("./certs.ts", import.meta.url).href;
    await Deno.writeTextFile(
      probe,
      `import { certs } from "${certs}";\n` +
        `Deno.test("makes them", async () => console.log("dir:", (await certs()).dir));\n`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-run=openssl", "--allow-read=/tmp", "--allow-write=/tmp", probe],
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, text + new TextDecoder().decode(stderr));
    const dir = /^dir: (\S+)$/m.exec(text)?.[1] ?? "";
    assert.ok(dir.startsWith("/tmp/ts-deno-certs-"), text);
    const left = await Deno.stat(dir).then(() => "still there", () => "removed");
    assert.equal(left, "removed", dir);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
