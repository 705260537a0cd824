import assert from "node:assert/strict";
import { type Command, extraAsked, extraFlags, flag, parseFlags, usage } from "./flags.ts";

const SERVER = {
  script: "server.ts",
  about: "a server",
  flags: {
    port: flag.port(21567, "port", 0),
    ...extraFlags.tlsServer,
    ...extraFlags.unixServer,
    workers: extraFlags.workers,
  },
} satisfies Command;

const CLIENT = {
  script: "client.ts",
  about: "a client",
  flags: { port: flag.port(21567, "port"), ...extraFlags.tlsClient },
} satisfies Command;

Deno.test("extraAsked() names the first flag given that server/ serves, and none on the default path", () => {
  const asked = (command: Command, args: string[]) =>
    extraAsked(command, parseFlags(args, command)!);
  assert.equal(asked(SERVER, []), undefined);
  assert.equal(asked(SERVER, ["--port", "0", "--handshake-timeout", "3"]), undefined);
  assert.equal(asked(SERVER, ["--workers", "1", "--unix-mode", "660"]), undefined, "defaults");
  assert.equal(asked(SERVER, ["--tls-key", "k.pem"]), "--tls-key");
  assert.equal(asked(SERVER, ["--unix", "/x.sock"]), "--unix");
  assert.equal(asked(SERVER, ["--workers", "2"]), "--workers");
  assert.equal(asked(CLIENT, ["--tls"]), "--tls");
  assert.equal(asked(CLIENT, ["--ca", "ca.pem"]), "--ca");
});

Deno.test("the extras' flags parse, and show in --help like any other", () => {
  assert.equal(parseFlags(["--unix-mode", "640"], SERVER)?.unixMode, 0o640);
  assert.throws(() => parseFlags(["--unix-mode", "9"], SERVER), /must be 3 octal digits/);
  assert.match(usage(SERVER), /--unix-mode MODE .*\(default: 600\)/);
  assert.match(usage(SERVER), /--workers N .*\(default: 1\)/);
});
