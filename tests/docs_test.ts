/**
 * `docs/sockets.md`, the chapter's three reference tables in Deno: every row of each has its
 * entry, in its part of the page; its examples are many, and all of them run (none is marked
 * `ignore`); and `deno task test` runs them, once.
 */

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

/** The rows of the chapter's three tables, by the names the book gives them, and where each is. */
const BOOK_ROWS: Record<string, string[]> = {
  // The socket object's methods, in the book's groups: server, client, general, blocking, file,
  // data attributes.
  "## The socket object": [
    ...["bind()", "listen()", "accept()", "connect()", "connect_ex()"],
    ...["recv()", "recv_into()", "send()", "sendall()", "recvfrom()", "recvfrom_into()"],
    ...["sendto()", "getpeername()", "getsockname()", "getsockopt()", "setsockopt()"],
    ...["shutdown()", "close()", "detach()", "ioctl()"],
    ...["setblocking()", "settimeout()", "gettimeout()", "fileno()", "makefile()"],
    ...["family()", "type()", "proto"],
  ],
  // The module's attributes: families and types (the book's table writes SO_STREAM, SO_DGRAM),
  // exceptions, functions.
  "## The `socket` module": [
    ...["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_TIPC", "SOCK_STREAM", "SOCK_DGRAM"],
    ...["has_ipv6", "error", "herror", "gaierror", "timeout"],
    ...["socket()", "socketpair()", "create_connection()", "fromfd()", "ssl()"],
    ...["getaddrinfo()", "getnameinfo()", "getfqdn()", "gethostname()", "gethostbyname()"],
    ...["gethostbyname_ex()", "gethostbyaddr()", "getprotobyname()", "getservbyname()"],
    ...["getservbyport()", "ntohl()", "ntohs()", "htonl()", "htons()", "inet_aton()"],
    ...["inet_ntoa()", "inet_pton()", "inet_ntop()", "getdefaulttimeout()", "setdefaulttimeout()"],
  ],
  "## `SocketServer`": [
    ...["BaseServer", "TCPServer", "UDPServer", "UnixStreamServer", "UnixDatagramServer"],
    ...["ForkingMixIn", "ThreadingMixIn", "ForkingTCPServer", "ForkingUDPServer"],
    ...["ThreadingTCPServer", "ThreadingUDPServer", "BaseRequestHandler"],
    ...["StreamRequestHandler", "DatagramRequestHandler"],
  ],
};
const MIN_EXAMPLES = 30;

/** The text of each `## ` part of `doc`, by its heading. */
function parts(doc: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const part of doc.split(/^(?=## )/m)) found.set(part.slice(0, part.indexOf("\n")), part);
  return found;
}

Deno.test("docs/sockets.md has an entry for every row of the chapter's three tables", async () => {
  assert.equal(BOOK_ROWS["## The socket object"].length, 28, "the socket object's table");
  const byHeading = parts(await read("docs/sockets.md"));
  for (const [heading, names] of Object.entries(BOOK_ROWS)) {
    const part = byHeading.get(heading);
    assert.ok(part, `docs/sockets.md has no part "${heading}"`);
    // A row's first cell names it: "| `getservbyname()` |", "| `ntohl()` / `ntohs()` |".
    const firstCells = [...part.matchAll(/^\| ([^|]+) \|/gm)].map(([, cell]) => cell);
    for (const name of names) {
      assert.ok(
        firstCells.some((cell) => cell.includes(`\`${name}\``)),
        `no row for \`${name}\` under "${heading}"`,
      );
    }
  }
});

Deno.test("docs/sockets.md has at least 30 TypeScript examples, none of them left out", async () => {
  const doc = await read("docs/sockets.md");
  const fences = [...doc.matchAll(/^```ts(.*)$/gm)];
  // `ts ignore`, `ts no-eval` and the like would be checked, or not even that, but not run.
  assert.deepEqual(fences.filter(([, rest]) => rest !== ""), [], "an example that does not run");
  assert.ok(fences.length >= MIN_EXAMPLES, `only ${fences.length} examples`);
  console.log(`docs/sockets.md: ${fences.length} examples`);
});

Deno.test("deno task test runs docs/sockets.md's examples, once, and the README links the page", async () => {
  const config = JSON.parse(await read("deno.json"));
  const words: string[] = config.tasks.test.split(/[\s;&|]+/); // the shell's words
  // Named on the command line, a Markdown file's examples run; found by `deno test .`, not
  // unless `--doc` is given, which would also run every other file's (README.md's, JSDoc's).
  assert.equal(words.filter((word) => word === "docs/sockets.md").length, 1);
  assert.ok(!words.includes("--doc"), "--doc would run the examples of every file");
  const readme = await read("README.md");
  const start = readme.indexOf("## From the book's socket calls to Deno's");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  assert.match(section, /\]\(docs\/sockets\.md\)/);
});
