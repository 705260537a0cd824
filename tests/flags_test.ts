import assert from "node:assert/strict";
import { type Command, type Flag, flag, parseFlags, usage } from "../lib/flags.ts";
import { UsageError } from "../lib/errors.ts";
import { COMMANDS } from "../tools/scripts.ts";

const SERVER = COMMANDS["tsTserv.ts"];
const LINE_SERVER = COMMANDS["tsTservSS.ts"];
const UDP_SERVER = COMMANDS["tsUserv.ts"];
const CLIENT = COMMANDS["tsTclnt.ts"];
const UDP_CLIENT = COMMANDS["tsUclnt.ts"];
const LOAD_GENERATOR = COMMANDS["tsLoad.ts"];

Deno.test("parseFlags() gives each script the book's defaults", () => {
  const plainTcp = {
    tlsCert: undefined,
    tlsKey: undefined,
    handshakeTimeout: 10,
    unix: undefined,
    unixMode: 0o600,
    workers: 1,
    trace: false,
    proxyProtocol: false,
    proxyFrom: undefined,
  };
  assert.deepEqual(parseFlags([], SERVER), {
    host: "0.0.0.0",
    port: 21567,
    bufsiz: 1024,
    idleTimeout: 300,
    maxConns: 10_000,
    quiet: false,
    ...plainTcp,
  });
  assert.deepEqual(parseFlags([], LINE_SERVER), {
    host: "0.0.0.0",
    port: 21567,
    bufsiz: 1024,
    idleTimeout: 300,
    maxLine: 65536,
    lineTimeout: 30,
    lineBudget: 64,
    maxConns: 10_000,
    quiet: false,
    ...plainTcp,
  });
  assert.deepEqual(parseFlags([], UDP_SERVER), {
    host: "0.0.0.0",
    port: 21567,
    bufsiz: 1024,
    quiet: false,
    trace: false,
    unix: undefined,
    unixMode: 0o600,
  });
  const plain = { tls: false, ca: undefined, unix: undefined, trace: false };
  assert.deepEqual(parseFlags([], CLIENT), { host: "localhost", port: 21567, ...plain });
  assert.deepEqual(parseFlags([], COMMANDS["tsTclntV6.ts"]), {
    host: "::1",
    port: 21567,
    ...plain,
  });
  assert.equal(parseFlags([], COMMANDS["tsTservV6.ts"])?.host, "::");
  assert.deepEqual(parseFlags([], UDP_CLIENT), {
    host: "localhost",
    port: 21567,
    timeout: 2,
    trace: false,
    unix: undefined,
  });
  // Every script takes --trace, off unless given.
  for (const command of Object.values(COMMANDS)) {
    assert.equal(parseFlags(["--trace"], command)?.trace, true, command.script);
  }
});

Deno.test("parseFlags() reads the load generator's flags, within bounds", () => {
  const options = parseFlags(
    ["--proto", "ss", "-c", "128", "-d", "2.5", "--warmup", "0", "--size", "1", "--json"],
    LOAD_GENERATOR,
  );
  assert.deepEqual(
    [options?.proto, options?.conns, options?.duration, options?.warmup, options?.size],
    ["ss", 128, 2.5, 0, 1],
  );
  assert.equal(options?.json, true);
  assert.equal(parseFlags([], LOAD_GENERATOR)?.timeout, 1);
  const cases: [string[], RegExp][] = [
    [["--proto", "sctp"], /--proto must be one of tcp, ss, udp, not "sctp"/],
    [["-c", "0"], /--conns must be a whole number from 1 to 10000/],
    [["-c", "10001"], /--conns must be a whole number from 1 to 10000/],
    [["-d", "0"], /--duration must be a number of seconds above 0 and at most 3600/],
    [["-d", "3601"], /--duration must be/],
    [["--warmup", "3601"], /--warmup must be a number of seconds from 0 \(none\) to 3600/],
    [["--size", "0"], /--size must be a whole number from 1 to 65507/],
    [["--size", "65508"], /--size must be/],
    [["--bufsiz", "1"], /Unknown option '--bufsiz'/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(args, LOAD_GENERATOR), message, args.join(" "));
  }
  for (const command of [SERVER, CLIENT, UDP_CLIENT]) {
    assert.throws(() => parseFlags(["--conns", "1"], command), /Unknown option '--conns'/);
  }
});

Deno.test("parseFlags() takes long and short flags, and a bracketed IPv6 host", () => {
  const options = parseFlags(["-p", "0", "-q", "--host", "[::1]", "--bufsiz=16"], SERVER);
  assert.deepEqual(
    [options?.host, options?.port, options?.bufsiz, options?.quiet],
    ["::1", 0, 16, true],
  );
  assert.equal(parseFlags(["--timeout", "0.25"], UDP_CLIENT)?.timeout, 0.25);
  assert.equal(parseFlags(["--idle-timeout", "0"], SERVER)?.idleTimeout, 0);
  assert.equal(parseFlags(["--idle-timeout=1.5"], LINE_SERVER)?.idleTimeout, 1.5);
  const line = parseFlags(["--max-line", "100", "--line-timeout", "0"], LINE_SERVER);
  assert.deepEqual([line?.maxLine, line?.lineTimeout], [100, 0]);
});

Deno.test("parseFlags() rejects bad values with a usage error", () => {
  const cases: [string[], Command, RegExp][] = [
    [["--port", "65536"], SERVER, /--port must be a whole number from 0 to 65535, not "65536"/],
    [["--port", "abc"], SERVER, /not "abc"/],
    [["--port", ""], SERVER, /not ""/],
    [["--port", "-1"], SERVER, /^--port must be a whole number from 0 to 65535, not "-1"$/],
    [["-p", "-1"], CLIENT, /^--port must be a whole number from 1 to 65535, not "-1"$/],
    [["--port", "0x10"], SERVER, /not "0x10"/],
    [["--port", "1e3"], SERVER, /not "1e3"/],
    [["--port", "0"], CLIENT, /--port must be a whole number from 1 to 65535/],
    [["--bufsiz", "0"], SERVER, /--bufsiz must be a whole number from 1/],
    [["--timeout", "0"], UDP_CLIENT, /--timeout must be a number of seconds above 0/],
    [["--timeout", "soon"], UDP_CLIENT, /not "soon"/],
    [["--host", ""], SERVER, /--host must not be empty \(use 0\.0\.0\.0\)/],
    [["--host", "[]"], CLIENT, /--host must not be empty \(use localhost\)/],
    [["--bogus"], SERVER, /Unknown option '--bogus'/],
    [["--bufsiz", "8"], CLIENT, /Unknown option '--bufsiz'/],
    [["--timeout", "1"], SERVER, /Unknown option '--timeout'/],
    [["21567"], SERVER, /Unexpected argument '21567'/],
    [["--port"], SERVER, /argument missing/],
    [
      ["--idle-timeout", "-1"],
      SERVER,
      /^--idle-timeout must be a number of seconds from 0 \(never\) to 86400, not "-1"$/,
    ],
    [["--idle-timeout", "1e9"], SERVER, /--idle-timeout must be a number of seconds from 0/],
    [["--idle-timeout", "1"], UDP_SERVER, /Unknown option '--idle-timeout'/],
    [["--bufsiz", "65481"], UDP_SERVER, /--bufsiz must be a whole number from 1 to 65480/],
    [["--max-line", "0"], LINE_SERVER, /--max-line must be a whole number from 1/],
    [["--max-line", "100"], SERVER, /Unknown option '--max-line'/],
    [["--line-timeout", "x"], LINE_SERVER, /not "x"/],
    // A value that starts with "-" looks like a flag: joined with "=", it is taken as a value.
    [["--host", "-h"], CLIENT, /^--host -h: write --host=-h if "-h" is its value$/],
    [["-p", "-x"], CLIENT, /^-p -x: write --port=-x if "-x" is its value$/],
  ];
  for (const [args, command, message] of cases) {
    assert.throws(() => parseFlags(args, command), (err: unknown) => {
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
  assert.match(text, /--timeout SECONDS +how long to wait for each reply \(default: 2\)/);
  assert.doesNotMatch(text, /--bufsiz/);
  assert.match(usage(SERVER), /-q, --quiet/);
  // The help texts line up in one column, however long a flag's name.
  const rows = usage(LINE_SERVER).split("\n").filter((line) => /^\s+-/.test(line));
  assert.ok(rows.some((row) => row.includes("--line-timeout SECONDS")));
  const helpStarts = rows.map((row) =>
    row.match(/^\s+(-\w, )?\s*--[\w-]+( [A-Z]+)?\s+/)![0].length
  );
  assert.equal(new Set(helpStarts).size, 1, rows.join("\n"));
});

Deno.test("a flag added to a script's command is parsed, checked and shown in --help", () => {
  // The README's template example: one line in the script's own command.
  const maxReplies = flag.whole("max-replies", 1000, "replies per connection", {
    max: 1e6,
    value: "N",
  });
  const command = { ...SERVER, flags: { ...SERVER.flags, maxReplies } };
  assert.equal(parseFlags(["--max-replies", "20"], command)?.maxReplies, 20);
  assert.equal(parseFlags([], command)?.maxReplies, 1000);
  assert.throws(
    () => parseFlags(["--max-replies", "0"], command),
    /--max-replies must be a whole number from 1 to 1000000, not "0"/,
  );
  assert.match(usage(command), /^ {6}--max-replies N +replies per connection \(default: 1000\)$/m);
});

Deno.test("--help shows a default as it is written on the command line", () => {
  const mode: Flag<number> = {
    name: "mode",
    value: "MODE",
    help: "a file mode",
    default: 0o600,
    parse: (raw) => parseInt(raw, 8),
    show: (value) => value.toString(8),
  };
  const command = { ...SERVER, flags: { ...SERVER.flags, mode } };
  assert.match(usage(command), /--mode MODE +a file mode \(default: 600\)$/m);
});
