// Timestamp servers written the obvious way with Node's own modules, for the benchmark to
// measure ours against: `net` for TCP (a reply to each chunk read, or one line per connection)
// and `dgram` for UDP; `tls` for TLS, the same handlers over `tls.createServer`. Nothing
// tuned: this is what a Node programmer would write first.
//
//   node bench/peers/node_server.mjs tcp|ss|udp [PORT [HOST]]
//   node bench/peers/node_server.mjs tcp|ss /PATH              (on a Unix socket)
//   TLS_CERT=cert.pem TLS_KEY=key.pem node bench/peers/node_server.mjs tls|tls-ss [PORT [HOST]]
//
// Prints "listening on PORT" (or the path) once bound (PORT 0 picks a free one).
import dgram from "node:dgram";
import { readFileSync, rmSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";

const [given = "tcp", port = "0", host = "127.0.0.1"] = process.argv.slice(2);
const secure = given.startsWith("tls");
const mode = secure ? given.replace(/^tls-?/, "") || "tcp" : given;
const createServer = (handler) =>
  secure
    ? tls.createServer({
      cert: readFileSync(process.env.TLS_CERT),
      key: readFileSync(process.env.TLS_KEY),
    }, handler)
    : net.createServer(handler);

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n) => String(n).padStart(2, "0");

// Python's time.ctime(): "Thu Jun  4 19:56:18 2020".
function ctime(d = new Date()) {
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const day = String(d.getDate()).padStart(2, " ");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${day} ${time} ${d.getFullYear()}`;
}

const stamped = (data) => Buffer.concat([Buffer.from(`[${ctime()}] `), data]);
const announce = (address) => console.log(`listening on ${address.port ?? address}`);
// A path for a Unix socket (a stale file from an earlier run is removed first), or a port.
const where = port.startsWith("/") ? (rmSync(port, { force: true }), [port]) : [Number(port), host];

if (mode === "udp") {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.on("message", (msg, rinfo) => socket.send(stamped(msg), rinfo.port, rinfo.address));
  socket.bind(Number(port), host, () => announce(socket.address()));
} else if (mode === "tcp") {
  const server = createServer((socket) => {
    socket.on("data", (data) => socket.write(stamped(data)));
    socket.on("error", () => {});
  });
  server.listen(...where, () => announce(server.address()));
} else if (mode === "ss") {
  // One line per connection, as the book's SocketServer: read up to the newline, reply, close.
  const server = createServer((socket) => {
    let line = Buffer.alloc(0);
    socket.on("data", (data) => {
      line = Buffer.concat([line, data]);
      const end = line.indexOf(10);
      if (end >= 0) socket.end(stamped(line.subarray(0, end + 1)));
    });
    socket.on("error", () => {});
  });
  server.listen(...where, () => announce(server.address()));
} else {
  console.error(`unknown mode ${given}: tcp, ss, udp, tls or tls-ss`);
  process.exit(2);
}
