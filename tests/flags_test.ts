import assert from "node:assert/strict";
import { type Command, type Flag, flag, parseFlags, usage } from "../server/flags.ts";
import { type Lesson, UsageError } from "../lib/command.ts";
import { readFlags } from "../lib/cli.ts";
import { usage as lessonUsage } from "../lib/help.ts";
import { BOOK_SCRIPTS, COMMANDS, readOptions } from "../tools/scripts.ts";

const SERVER = COMMANDS["tsTserv.ts"] as Lesson;
const CLIENT = COMMANDS["tsTclnt.ts"] as Lesson;
const UDP_CLIENT = COMMANDS["tsUclnt.ts"] as Lesson;
const TSD = COMMANDS["tsd.ts"] as Command;
const PRODUCTION_CLIENT = COMMANDS["client.ts"] as Command;
const LOAD_GENERATOR = COMMANDS["tsLoad.ts"] as Command;
const NO_FLAGS = { trace: false, help: false };

Deno.test("a lesson takes the book's constants as defaults, and no production flag", async () => {
  for (const script of [...BOOK_SCRIPTS, "tsUservSS.ts"]) {
    const serves = /serv/.test(script);
    const host = serves
      ? (/V6/.test(script) ? "::" : "0.0.0.0")
      : /V6/.test(script)
      ? "::1"
      : "localhost";
    const timeout = script === "tsUclnt.ts" ? { timeout: 2 } : {};
    assert.deepEqual(await readOptions(script, []), { host, port: 21567, ...timeout, ...NO_FLAGS });
    assert.equal((await readOptions(script, ["--trace"]))?.trace, true, script);
    for (const production of ["--tls-cert=x", "--unix=x", "--workers=2", "-q", "--bufsiz=8"]) {
      await assert.rejects(readOptions(script, [production]), /Unknown option/, script);
    }
    // At most six options, --help included: the listing's constants and what a learner needs.
    const options = lessonUsage(COMMANDS[script] as Lesson).match(/^ {2}(-\w, | {4})--/gm);
    assert.ok(options!.length <= 6, `${script}: ${options!.length} options`);
  }
});

Deno.test("tsd and client.ts keep every production flag, with the lessons' defaults", () => {
  assert.deepEqual(parseFlags([], TSD), {
    proto: "tcp",
    host: "0.0.0.0",
    port: 21567,
    bufsiz: 1024,
    idleTimeout: 300,
    maxConns: 10_000,
    maxLine: 65536,
    lineTimeout: 30,
    lineBudget: 64,
    quiet: false,
    trace: false,
    tlsCert: undefined,
    tlsKey: undefined,
    handshakeTimeout: 10,
    unix: undefined,
    unixMode: 0o600,
    proxyProtocol: false,
    proxyFrom: undefined,
    workers: 1,
  });
  assert.deepEqual(parseFlags([], PRODUCTION_CLIENT), {
    proto: "tcp",
    host: "localhost",
    port: 21567,
    timeout: 2,
    trace: false,
    tls: false,
    ca: undefined,
    unix: undefined,
  });
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
});

Deno.test("both layers take long and short flags, and a bracketed IPv6 host", async () => {
  const lesson = await readFlags(["-p", "0", "--host", "[::1]"], SERVER);
  assert.deepEqual([lesson.host, lesson.port], ["::1", 0]);
  assert.equal((await readFlags(["--timeout", "0.25"], UDP_CLIENT)).timeout, 0.25);
  const options = parseFlags(["-p", "0", "-q", "--host", "[::1]", "--bufsiz=16"], TSD);
  assert.deepEqual(
    [options?.host, options?.port, options?.bufsiz, options?.quiet],
    ["::1", 0, 16, true],
  );
  assert.equal(parseFlags(["--idle-timeout", "0"], TSD)?.idleTimeout, 0);
  assert.equal(parseFlags(["--idle-timeout=1.5"], TSD)?.idleTimeout, 1.5);
  const line = parseFlags(["--max-line", "100", "--line-timeout", "0"], TSD);
  assert.deepEqual([line?.maxLine, line?.lineTimeout], [100, 0]);
});

Deno.test("both layers reject bad values with the same usage errors", async () => {
  const cases: [string[], string, RegExp][] = [
    [
      ["--port", "65536"],
      "tsTserv.ts",
      /--port must be a whole number from 0 to 65535, not "65536"/,
    ],
    [["--port", "abc"], "tsTserv.ts", /not "abc"/],
    [["--port", ""], "tsTserv.ts", /not ""/],
    [["--port", "-1"], "tsTserv.ts", /^--port must be a whole number from 0 to 65535, not "-1"$/],
    [["-p", "-1"], "tsTclnt.ts", /^--port must be a whole number from 1 to 65535, not "-1"$/],
    [["--port", "0x10"], "tsTserv.ts", /not "0x10"/],
    [["--port", "1e3"], "tsTserv.ts", /not "1e3"/],
    [["--port", "0"], "tsTclnt.ts", /--port must be a whole number from 1 to 65535/],
    [["--timeout", "0"], "tsUclnt.ts", /--timeout must be a number of seconds above 0/],
    [["--timeout", "soon"], "tsUclnt.ts", /not "soon"/],
    [["--host", ""], "tsTserv.ts", /--host must not be empty \(use 0\.0\.0\.0\)/],
    [["--host", "[]"], "tsTclnt.ts", /--host must not be empty \(use localhost\)/],
    [["--host", "a b"], "tsTclnt.ts", /^--host must be a host name or an address, .* not "a b"$/],
    [["--host", "http://localhost"], "tsTserv.ts", /--host must be a host name or an address/],
    [
      ["--host", "localhost:21567"],
      "tsTclnt.ts",
      /not "localhost:21567"; give the port with --port$/,
    ],
    [["--host", "::1]"], "tsTclnt.ts", /--host must be a host name or an address/],
    [["--bogus"], "tsTserv.ts", /Unknown option '--bogus'/],
    [["--timeout", "1"], "tsTserv.ts", /Unknown option '--timeout'/],
    [["21567"], "tsTserv.ts", /Unexpected argument '21567'/],
    [["--port"], "tsTserv.ts", /argument missing/],
    // A value that starts with "-" looks like a flag: joined with "=", it is taken as a value.
    [["--host", "-h"], "tsTclnt.ts", /^--host -h: write --host=-h if "-h" is its value$/],
    [["-p", "-x"], "tsTclnt.ts", /^-p -x: write --port=-x if "-x" is its value$/],
  ];
  // The same arguments, the same error, from the production commands.
  const production = cases.filter(([args]) => args[0] !== "--timeout").map((
    [args, script, message],
  ): [string[], string, RegExp] => [
    args,
    script === "tsTserv.ts" ? "tsd.ts" : "client.ts",
    message,
  ]);
  const more: [string[], string, RegExp][] = [
    [["--bufsiz", "0"], "tsd.ts", /--bufsiz must be a whole number from 1/],
    [["--bufsiz", "8"], "client.ts", /Unknown option '--bufsiz'/],
    [
      ["--idle-timeout", "-1"],
      "tsd.ts",
      /^--idle-timeout must be a number of seconds from 0 \(never\) to 86400, not "-1"$/,
    ],
    [["--idle-timeout", "1e9"], "tsd.ts", /--idle-timeout must be a number of seconds from 0/],
    [["--max-line", "0"], "tsd.ts", /--max-line must be a whole number from 1/],
    [["--line-timeout", "x"], "tsd.ts", /not "x"/],
  ];
  for (const [args, script, message] of [...cases, ...production, ...more]) {
    await assert.rejects(readOptions(script, args), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${script} ${args}: ${err}`);
      assert.match(err.message, message, `${script} ${args.join(" ")}`);
      assert.match(err.hint, new RegExp(`--help`));
      return true;
    });
  }
});

Deno.test("--help lists the flags a command takes, and its run command", () => {
  const text = lessonUsage(UDP_CLIENT);
  assert.match(text, /deno run -N --unstable-net scripts\/tsUclnt\.ts \[OPTIONS\]/);
  assert.match(text, /--timeout SECONDS +how long to wait for each reply \(default: 2\)/);
  assert.doesNotMatch(lessonUsage(SERVER), /--timeout|--quiet/);
  assert.match(usage(TSD), /-q, --quiet/);
  // The help texts line up in one column, however long a flag's name.
  for (const text of [usage(TSD), lessonUsage(UDP_CLIENT), lessonUsage(CLIENT)]) {
    const rows = text.split("\n").filter((line) => /^\s+-/.test(line));
    const helpStarts = rows.map((row) =>
      row.match(/^\s+(-\w, )?\s*--[\w-]+( [A-Z]+)?\s+/)![0].length
    );
    assert.equal(new Set(helpStarts).size, 1, rows.join("\n"));
  }
});

Deno.test("a flag added to a command is parsed, checked and shown in --help", () => {
  // A server of your own on server/: one line in its command.
  const maxReplies = flag.whole("max-replies", 1000, "replies per connection", {
    max: 1e6,
    value: "N",
  });
  const command = { ...TSD, flags: { ...TSD.flags, maxReplies } };
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
  const command = { ...TSD, flags: { ...TSD.flags, mode } };
  assert.match(usage(command), /--mode MODE +a file mode \(default: 600\)$/m);
});
