// The floor for a Deno timestamp server: the least a correct one can be, with no flags, logs,
// limits or shutdown, only the replies. The benchmark runs it beside our scripts so that what
// they cost over plain Deno shows: the gap between the two is ours to answer for, the rest is
// Deno's. One buffer per connection (or socket), the stamp written into its head only when the
// second changes, one write per reply.
//
//   deno run -N --unstable-net bench/peers/deno_bare.ts tcp|ss|udp [PORT [HOST]]
//
// Prints "listening on PORT" once bound (PORT 0 picks a free one).

const [mode = "tcp", port = "0", hostname = "127.0.0.1"] = Deno.args;
const STAMP = 27; // "[Thu Jun  4 19:56:18 2020] "
const BUFSIZ = 1024;
const DAYS = "Sun Mon Tue Wed Thu Fri Sat".split(" ");
const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");
const pad = (n: number, fill = "0") => String(n).padStart(2, fill);

// The stamp as Python's time.ctime() writes it, in local time, encoded once a second and shared.
let second = NaN;
let stampBytes = new Uint8Array(STAMP);
function stampFor(now: number): Uint8Array {
  if (now !== second) {
    const d = new Date(now * 1000);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const ctime = `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${pad(d.getDate(), " ")} ${time}`;
    stampBytes = new TextEncoder().encode(`[${ctime} ${d.getFullYear()}] `);
    second = now;
  }
  return stampBytes;
}

// A buffer with room for the stamp before the payload; `stamp()` refreshes its head when its
// own last second is not this one.
function stampedBuffer() {
  const buffer = new Uint8Array(STAMP + BUFSIZ);
  let last = NaN;
  return {
    buffer,
    payload: buffer.subarray(STAMP),
    stamp() {
      const now = Math.floor(Date.now() / 1000);
      if (now !== last) {
        buffer.set(stampFor(now), 0);
        last = now;
      }
    },
  };
}

async function writeAll(conn: Deno.Conn, data: Uint8Array) {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

async function replies(conn: Deno.TcpConn) {
  conn.setNoDelay(true);
  const { buffer, payload, stamp } = stampedBuffer();
  try {
    for (let n; (n = await conn.read(payload)) !== null;) {
      stamp();
      await writeAll(conn, buffer.subarray(0, STAMP + n));
    }
  } catch { /* a client reset: nothing to answer */ }
  conn.close();
}

// One line per connection, as the book's SocketServer: read up to the newline (or a full
// buffer, or the end), reply with that much and no more, close.
async function line(conn: Deno.TcpConn) {
  conn.setNoDelay(true);
  const { buffer, payload, stamp } = stampedBuffer();
  let end = 0;
  try {
    for (let n; end < BUFSIZ && (n = await conn.read(payload.subarray(end))) !== null;) {
      const newline = payload.subarray(end, end + n).indexOf(10);
      if (newline !== -1) {
        end += newline + 1;
        break;
      }
      end += n;
    }
    if (end > 0) {
      stamp();
      await writeAll(conn, buffer.subarray(0, STAMP + end));
    }
  } catch { /* a client reset */ }
  conn.close();
}

if (mode === "tcp" || mode === "ss") {
  const listener = Deno.listen({ hostname, port: Number(port) });
  console.log(`listening on ${listener.addr.port}`);
  const handle = mode === "tcp" ? replies : line;
  // Not `for await (const conn of listener)`: a client that resets before its connection is
  // accepted makes accept() throw (NotConnected), which would end that loop and the server.
  for (;;) {
    const conn = await listener.accept().catch((err) => {
      if (err instanceof Deno.errors.NotConnected) return null;
      throw err;
    });
    if (conn) handle(conn);
  }
} else if (mode === "udp") {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: Number(port) });
  console.log(`listening on ${(socket.addr as Deno.NetAddr).port}`);
  const { buffer, payload, stamp } = stampedBuffer();
  for (;;) {
    // receive() fills the buffer given and answers with the part filled.
    const [data, from] = await socket.receive(payload);
    stamp();
    await socket.send(buffer.subarray(0, STAMP + data.length), from);
  }
} else {
  console.error(`unknown mode ${mode}: tcp, ss or udp`);
  Deno.exit(2);
}
