import assert from "node:assert/strict";
import { type Cli, DEFAULT_PORT, parseFlags, usage } from "./flags.ts";
import { UsageError } from "./errors.ts";

const SERVER: Cli = { script: "tsTserv.ts", about: "a server", role: "server", host: "0.0.0.0" };
const CLIENT: Cli = { script: "tsTclnt.ts", about: "a client", role: "client", host: "localhost" };
const UDP_CLIENT: Cli = {
  script: "tsUclnt.ts",
  about: "a UDP client",
  role: "udp-client",
  host: "localhost",
  unstableNet: true,
};

Deno.test("parseFlags() gives the book's defaults", () => {
  assert.deepEqual(parseFlags([], SERVER), {
    host: "0.0.0.0",
    port: DEFAULT_PORT,
    bufsiz: 1024,
    quiet: false,
    timeout: 2,
  });
  assert.equal(parseFlags([], CLIENT)?.host, "localhost");
});

Deno.test("parseFlags() takes long and short flags, and a bracketed IPv6 host", () => {
  const options = parseFlags(["-p", "0", "-q", "--host", "[::1]", "--bufsiz=16"], SERVER);
  assert.deepEqual(options, { host: "::1", port: 0, bufsiz: 16, quiet: true, timeout: 2 });
  assert.equal(parseFlags(["--timeout", "0.25"], UDP_CLIENT)?.timeout, 0.25);
});

Deno.test("parseFlags() rejects bad values with a usage error", () => {
  const cases: [string[], Cli, RegExp][] = [
    [["--port", "65536"], SERVER, /--port must be a whole number from 0 to 65535, not "65536"/],
    [["--port", "abc"], SERVER, /not "abc"/],
    [["--port", ""], SERVER, /not ""/],
    [["--port", "-1"], SERVER, /argument is ambiguous|not "-1"/],
    [["--port", "0x10"], SERVER, /not "0x10"/],
    [["--port", "1e3"], SERVER, /not "1e3"/],
    [["--port", "0"], CLIENT, /--port must be a whole number from 1 to 65535/],
    [["--bufsiz", "0"], SERVER, /--bufsiz must be a whole number from 1/],
    [["--timeout", "0"], UDP_CLIENT, /--timeout must be a number of seconds above 0/],
    [["--timeout", "soon"], UDP_CLIENT, /not "soon"/],
    [["--host", ""], SERVER, /--host must not be empty/],
    [["--bogus"], SERVER, /Unknown option '--bogus'/],
    [["--bufsiz", "8"], CLIENT, /Unknown option '--bufsiz'/],
    [["--timeout", "1"], SERVER, /Unknown option '--timeout'/],
    [["21567"], SERVER, /Unexpected argument '21567'/],
    [["--port"], SERVER, /argument missing/],
  ];
  for (const [args, cli, message] of cases) {
    assert.throws(() => parseFlags(args, cli), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${args}: ${err}`);
      assert.match(err.message, message, args.join(" "));
      assert.match(err.hint, new RegExp(`--help`));
      return true;
    });
  }
});

Deno.test("usage() lists the flags a script takes, and its run command", () => {
  const text = usage(UDP_CLIENT);
  assert.match(text, /deno run -N --unstable-net scripts\/tsUclnt\.ts \[OPTIONS\]/);
  assert.match(text, /--timeout SECONDS/);
  assert.doesNotMatch(text, /--bufsiz/);
  assert.match(usage(SERVER), /-q, --quiet/);
});
