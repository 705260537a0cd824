/**
 * `--trace`: each socket call as it happens, one line on standard error, in the book's words
 * (Python's `socket` module) and then in Deno's:
 *
 * ```text
 * +0.000     socket(AF_INET, SOCK_STREAM) bind(('0.0.0.0', 21567)) listen()  Deno.listen({ hostname: "0.0.0.0", port: 21567 })
 * +1.204 [1] accept() -> ('127.0.0.1', 51034)                            listener.accept()
 * +1.951 [1] recv(1024) -> 5 bytes b'hello'                              conn.read(buffer)
 * ```
 *
 * A line starts with the seconds since the trace began, then the connection's number, so that
 * two clients at once can be told apart. Bytes are written as Python writes them, the first
 * `SHOWN_BYTES` of them, with the full count when there are more. A line is at most 100
 * columns: a wider one is wrapped, Deno's call on a line of its own.
 *
 * How: {@linkcode traceSocketCalls} wraps Deno's own socket functions (`Deno.listen`,
 * `Deno.connect`, `Deno.listenDatagram`, `Deno.startTls`) and the methods of the listeners,
 * connections and sockets they return, much as `strace` stands between a program and the
 * kernel. So every call is shown, whoever makes it (a script, `lib/` or another extra), and the
 * scripts need no line for it. Without `--trace` nothing is wrapped, and nothing is slower.
 *
 * Two layers of ours stand where Python makes a call of its own, and show themselves through a
 * hook on the connection: TLS over a server's TCP (`tls_server.ts` calls `traceTls`: from then
 * on the plaintext is shown, not TCP's records), and a SocketServer handler (`socket_server.ts`
 * calls `traceHandler`: its `rfile.readline()` and `wfile.write()`).
 *
 * @module
 */

/** Where trace lines go: `console`, or a worker's own, which says which worker it is. */
export interface Console {
  log(line: string): void;
  error(line: string): void;
}

/** What the trace sees of a SocketServer request handler (`server/socket_server.ts`). */
interface StreamRequestHandler {
  clientAddress: Deno.Addr;
  handle(): Promise<void>;
  rfile: { readline(): Promise<Uint8Array> };
  write(data: Uint8Array): Promise<void>;
}

/** The bytes of a payload a line shows; past them, `...` and the full count. */
const SHOWN_BYTES = 48;
/** The width of a line's book part: its Deno part starts after it. */
const BOOK_WIDTH = 60;
/** The widest a trace line is: a wider one is wrapped, its Deno call on a line of its own. */
const WIDTH = 100;

/**
 * `text` cut into lines of at most `width`, at spaces outside brackets and quotes, `->` kept
 * with what follows it (a word longer than `width` has a line of its own).
 */
function wrap(text: string, width: number): string[] {
  const words: string[] = [];
  let [word, depth, quote] = ["", 0, ""];
  for (const char of text) {
    if (quote) quote = char === quote ? "" : quote;
    else if (char === "'" || char === '"') quote = char;
    else if ("([{".includes(char)) depth++;
    else if (")]}".includes(char)) depth--;
    if (char === " " && depth === 0 && !quote && word !== "->") {
      words.push(word);
      word = "";
    } else word += char;
  }
  const lines: string[] = [];
  let line = "";
  for (const next of [...words, word]) {
    if (line && line.length + 1 + next.length > width) {
      lines.push(line);
      line = next;
    } else line = line ? `${line} ${next}` : next;
  }
  return [...lines, line];
}

/** What the hooks in `tls_server.ts` and `socket_server.ts` find on a traced connection. */
export interface TraceHooks {
  /** TLS now runs over this TCP connection, as `tls`: show its calls instead. */
  traceTls?(tls: TlsStream): void;
  /** `handler` serves this connection: show its `handle()`, `rfile` and `wfile` too. */
  traceHandler?(handler: StreamRequestHandler): void;
}

/** A connection as the trace wraps it: a `Deno.Conn`, TLS's, or our TLS server's. */
type Conn =
  & Pick<Deno.Conn, "read" | "write" | "closeWrite" | "close" | "remoteAddr">
  & Partial<Disposable>
  & { setNoDelay?(noDelay?: boolean): void; handshake?(): Promise<unknown> }
  & TraceHooks;
type TlsStream = Conn & { handshake(): Promise<unknown> };

type Say = (id: string, book: string, deno: string) => void;
let started = false;

/**
 * Shows every socket call from now on, on `out.error` (a worker's console says which worker
 * it is): wraps Deno's socket functions, and says the exit and, in the main thread, the stop
 * signals, so that a stop shows too. Calling it again does nothing.
 */
export function traceSocketCalls(out: Console = console): void {
  if (started) return;
  started = true;
  const began = performance.now();
  const say: Say = (id, book, deno) => {
    const head = `+${((performance.now() - began) / 1000).toFixed(3)} ${id.padEnd(4)}`;
    // The Deno column where it is, or further left if the line would be too wide there.
    const room = WIDTH - head.length - 2 - deno.length;
    if (book.length <= room) {
      return out.error(`${head}${book.padEnd(Math.min(BOOK_WIDTH, room))}  ${deno}`.trimEnd());
    }
    // Too wide: the book's words, wrapped, then Deno's on a line of their own.
    const indent = " ".repeat(head.length + 2);
    wrap(book, WIDTH - head.length).forEach((part, i) => out.error((i ? indent : head) + part));
    if (deno) wrap(deno, WIDTH - indent.length).forEach((part) => out.error(indent + part));
  };
  const tracer = new Tracer(say);

  const { listen, connect, listenDatagram, startTls } = Deno;
  Deno.listen = ((options: Deno.TcpListenOptions | Deno.UnixListenOptions) => {
    const deno = `Deno.listen(${js(options)})`;
    const listener = tracer.call("", deno, bindBook("SOCK_STREAM", options), () =>
      // deno-lint-ignore no-explicit-any
      listen(options as any));
    say("", `${bindBook("SOCK_STREAM", options)} listen()${picked(options, listener.addr)}`, deno);
    tracer.listener(listener);
    return listener;
  }) as typeof Deno.listen;

  Deno.connect = (async (options: Deno.ConnectOptions | Deno.UnixConnectOptions) => {
    const deno = `Deno.connect(${js(options)})`;
    const conn = await tracer.call("", deno, `socket() ${connectBook(options)}`, () =>
      // deno-lint-ignore no-explicit-any
      connect(options as any));
    const id = tracer.newId(conn);
    const remote = conn.remoteAddr;
    const resolved = "hostname" in options && "hostname" in remote &&
        remote.hostname !== options.hostname
      ? ` -> ${pyAddr(remote)}`
      : "";
    say(id, `socket(${family(remote)}, SOCK_STREAM) ${connectBook(options)}${resolved}`, deno);
    tracer.conn(conn, id);
    return conn;
  }) as typeof Deno.connect;

  Deno.startTls = (async (conn: Deno.TcpConn, options: Deno.StartTlsOptions = {}) => {
    const id = tracer.idOf(conn);
    const deno = `Deno.startTls(conn, ${js(options)})`;
    say(id, `context.wrap_socket(sock, server_hostname=${pyStr(options.hostname ?? "")})`, deno);
    const tls = await tracer.call(id, deno, "wrap_socket()", () => startTls(conn, options));
    tracer.conn(tls, id);
    return tls;
  }) as typeof Deno.startTls;

  if (typeof listenDatagram === "function") { // with --unstable-net only
    Deno.listenDatagram = ((options: Deno.UdpListenOptions | Deno.UnixListenOptions) => {
      const deno = `Deno.listenDatagram(${js(options)})`;
      const socket = tracer.call("", deno, bindBook("SOCK_DGRAM", options), () =>
        // deno-lint-ignore no-explicit-any
        listenDatagram(options as any));
      say("", `${bindBook("SOCK_DGRAM", options)}${picked(options, socket.addr)}`, deno);
      tracer.datagrams(socket);
      return socket;
    }) as typeof Deno.listenDatagram;
  }

  // `Deno.exit(await main(…))` took `Deno.exit` before main() ran, so the exit is heard here.
  globalThis.addEventListener("unload", () => {
    say("", `sys.exit(${Deno.exitCode})`, `Deno.exit(${Deno.exitCode})`);
  });

  // A worker's stop comes from the first thread, which traces the signal itself.
  if (!("WorkerGlobalScope" in globalThis)) {
    const signals: Deno.Signal[] = Deno.build.os === "windows"
      ? ["SIGINT", "SIGBREAK"]
      : ["SIGINT", "SIGTERM"];
    for (const name of signals) {
      Deno.addSignalListener(name, () => {
        say("", `${name} received`, `Deno.addSignalListener("${name}", stop)`);
      });
    }
  }
}

/** Wraps what Deno's socket functions return, and numbers the connections. */
class Tracer {
  #say: Say;
  #next = 0;
  #ids = new WeakMap<object, string>();

  constructor(say: Say) {
    this.#say = say;
  }

  /** A new connection's number, `[1]`. */
  newId(conn: object): string {
    const id = `[${++this.#next}]`;
    this.#ids.set(conn, id);
    return id;
  }
  idOf(conn: object): string {
    return this.#ids.get(conn) ?? this.newId(conn);
  }

  /** Runs `call`; a failure, thrown or rejected, is shown (`book -> error`) and passed on. */
  call<T>(id: string, deno: string, book: string, call: () => T): T {
    const failed = (err: unknown): never => {
      this.#say(id, `${book} -> ${pyError(err)}`, `${deno} threw ${denoError(err)}`);
      throw err;
    };
    let result: T;
    try {
      result = call();
    } catch (err) {
      return failed(err);
    }
    return result instanceof Promise ? result.catch(failed) as T : result;
  }

  listener(listener: { accept(): Promise<Conn>; close(): void }): void {
    const say = this.#say;
    const accept = listener.accept.bind(listener);
    listener.accept = () =>
      this.call("", "listener.accept()", "accept()", accept).then((conn) => {
        const id = this.newId(conn);
        say(id, `accept() -> ${pyAddr(conn.remoteAddr)}`, "listener.accept()");
        this.conn(conn, id);
        return conn;
      });
    const close = listener.close.bind(listener);
    listener.close = () => {
      say("", "close()", "listener.close()");
      close();
    };
  }

  /** Wraps a connection's calls; `quiet` while TLS runs over it (its records are not shown). */
  conn(conn: Conn, id: string): void {
    const say = this.#say;
    let quiet = false;
    let closed = false;
    const show = (book: string, deno: string) => quiet || say(id, book, deno);

    const read = conn.read.bind(conn);
    conn.read = (buffer) => {
      const book = `recv(${buffer.length})`;
      return read(buffer).then((n) => {
        show(
          n === null
            ? `${book} -> b'' (end of input)`
            : `${book} -> ${n} bytes ${pyBytes(buffer.subarray(0, n))}`,
          "conn.read(buffer)",
        );
        return n;
      }, (err) => {
        show(`${book} -> ${pyError(err)}`, `conn.read(buffer) threw ${denoError(err)}`);
        throw err;
      });
    };
    const write = conn.write.bind(conn);
    conn.write = (data) => {
      show(`send(${pyBytes(data)})`, "conn.write(data)");
      return write(data).then((n) => {
        if (n < data.length) {
          show(`send() -> ${n} of ${data.length} bytes`, `conn.write(data) -> ${n}`);
        }
        return n;
      }, (err) => {
        show(`send() -> ${pyError(err)}`, `conn.write(data) threw ${denoError(err)}`);
        throw err;
      });
    };
    const closeWrite = conn.closeWrite.bind(conn);
    conn.closeWrite = () => {
      show("shutdown(SHUT_WR)", "conn.closeWrite()");
      return closeWrite();
    };
    const closeOnce = (deno: string) => {
      if (!closed) show("close()", deno);
      closed = true;
    };
    const close = conn.close.bind(conn);
    conn.close = () => {
      closeOnce("conn.close()");
      close();
    };
    const dispose = conn[Symbol.dispose]?.bind(conn);
    if (dispose) {
      conn[Symbol.dispose] = () => {
        closeOnce("conn[Symbol.dispose]() (`using`)");
        dispose();
      };
    }
    const setNoDelay = conn.setNoDelay?.bind(conn);
    if (setNoDelay) {
      conn.setNoDelay = (noDelay = true) => {
        show(
          `setsockopt(IPPROTO_TCP, TCP_NODELAY, ${noDelay ? 1 : 0})`,
          `conn.setNoDelay(${noDelay})`,
        );
        setNoDelay(noDelay);
      };
    }
    const handshake = conn.handshake?.bind(conn);
    if (handshake) {
      conn.handshake = () =>
        this.call(id, "conn.handshake()", "do_handshake()", handshake).then((info) => {
          say(id, "do_handshake() -> done", "conn.handshake()");
          return info;
        });
    }

    conn.traceTls = (tls) => {
      quiet = true; // TCP now carries TLS's records: its calls are TLS's, shown on `tls`
      say(id, "context.wrap_socket(conn, server_side=True)", "new TLSSocket(conn) (node:tls)");
      this.conn(tls, id);
    };
    conn.traceHandler = (handler) => this.#handler(handler, id);
  }

  /**
   * A SocketServer handler's calls: `handle()`, `rfile.readline()`, `wfile.write()`. They are
   * the library's, not Deno's: the Deno column stays empty, and the reads and writes they make
   * have lines of their own.
   */
  #handler(handler: StreamRequestHandler, id: string): void {
    const say = this.#say;
    const name = handler.constructor.name;
    const handle = handler.handle.bind(handler);
    handler.handle = () => {
      say(id, `${name}(request, ${pyAddr(handler.clientAddress)}, server).handle()`, "");
      return handle();
    };
    const { rfile } = handler;
    const readline = rfile.readline.bind(rfile);
    rfile.readline = () =>
      this.call(id, "this.rfile.readline()", "rfile.readline()", readline).then((line) => {
        say(id, `rfile.readline() -> ${pyBytes(line)}`, "");
        return line;
      });
    const write = handler.write.bind(handler);
    handler.write = (data) => {
      say(id, `wfile.write(${pyBytes(data)})`, "");
      return write(data);
    };
  }

  /** Wraps a datagram socket's calls. */
  datagrams(socket: Deno.DatagramConn): void {
    const say = this.#say;
    const receive = socket.receive.bind(socket);
    socket.receive = (buffer) => {
      const book = `recvfrom(${buffer?.length ?? 65536})`;
      return this.call("", "socket.receive(buffer)", book, () => receive(buffer)).then(
        (received) => {
          const [data, from] = received;
          say(
            "",
            `${book} -> ${data.length} bytes ${pyBytes(data)} from ${pyAddr(from)}`,
            "socket.receive(buffer)",
          );
          return received;
        },
      );
    };
    const send = socket.send.bind(socket);
    socket.send = (data, to) => {
      say("", `sendto(${pyBytes(data)}, ${pyAddr(to)})`, "socket.send(data, address)");
      return this.call("", "socket.send(data, address)", "sendto()", () => send(data, to));
    };
    const close = socket.close.bind(socket);
    socket.close = () => {
      say("", "close()", "socket.close()");
      close();
    };
  }
}

/** `socket(AF_INET, SOCK_STREAM) bind(('0.0.0.0', 21567))`, or `bind('/tmp/ts.sock')`. */
function bindBook(
  kind: "SOCK_STREAM" | "SOCK_DGRAM",
  options: { hostname?: string; port?: number; path?: string; reusePort?: boolean },
): string {
  if (options.path !== undefined) return `socket(AF_UNIX, ${kind}) bind(${pyStr(options.path)})`;
  const hostname = options.hostname ?? "0.0.0.0";
  const port = options.port ?? 0;
  const socket = `socket(${family({ hostname })}, ${kind})`;
  const shared = options.reusePort ? " setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)" : "";
  return `${socket}${shared} bind((${pyStr(hostname)}, ${port}))`;
}

/** `getsockname()`, where the system picked the port (`port` 0): which one it is. */
function picked(options: { port?: number; path?: string }, bound: Deno.Addr): string {
  return options.path === undefined && !options.port ? ` getsockname() -> ${pyAddr(bound)}` : "";
}

/** `connect(('localhost', 21567))`, or `connect('/tmp/ts.sock')`. */
function connectBook(options: { hostname?: string; port?: number; path?: string }): string {
  if (options.path !== undefined) return `connect(${pyStr(options.path)})`;
  return `connect((${pyStr(options.hostname ?? "127.0.0.1")}, ${options.port}))`;
}

function family(addr: { hostname?: string; path?: string | null }): string {
  if (addr.hostname === undefined) return "AF_UNIX";
  return addr.hostname.includes(":") ? "AF_INET6" : "AF_INET";
}

/** An address as Python gives it: `('127.0.0.1', 51034)`, or a Unix socket's path. */
export function pyAddr(addr: Deno.Addr): string {
  if ("path" in addr) return pyStr(addr.path ?? "");
  return "hostname" in addr ? `(${pyStr(addr.hostname)}, ${addr.port})` : addr.transport;
}

/** A string as Python's `repr()` writes it: `'hello'`. */
function pyStr(text: string): string {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** Bytes as Python's `repr()` writes them, `b'hello\r\n'`: the first `max`, and `...` if more. */
export function pyBytes(bytes: Uint8Array, max = SHOWN_BYTES): string {
  const shown = bytes.subarray(0, max);
  const quote = shown.includes(0x27) && !shown.includes(0x22) ? 0x22 : 0x27; // ' or "
  let text = "";
  for (const byte of shown) {
    if (byte === 0x5c || byte === quote) text += "\\" + String.fromCharCode(byte);
    else if (byte === 0x09) text += "\\t";
    else if (byte === 0x0a) text += "\\n";
    else if (byte === 0x0d) text += "\\r";
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  const q = String.fromCharCode(quote);
  return `b${q}${text}${q}` + (bytes.length > max ? `... (${bytes.length} bytes)` : "");
}

/** What Python would raise for a failed call, as near as there is one. */
const PYTHON_ERRORS: Record<string, string> = {
  ConnectionRefused: "ConnectionRefusedError",
  ConnectionReset: "ConnectionResetError",
  ConnectionAborted: "ConnectionAbortedError",
  BrokenPipe: "BrokenPipeError",
  NotFound: "FileNotFoundError",
  PermissionDenied: "PermissionError",
  NotCapable: "PermissionError (not granted to Deno)",
  AddrInUse: "OSError: address already in use",
  AddrNotAvailable: "OSError: address not available",
  TimedOut: "TimeoutError",
  NotConnected: "OSError: not connected",
  BadResource: "OSError: the socket was closed",
  Interrupted: "OSError: the socket was closed",
  UnexpectedEof: "ssl.SSLEOFError",
  InvalidData: "ssl.SSLError",
};

function pyError(err: unknown): string {
  const name = err instanceof Error ? err.name : String(err);
  return PYTHON_ERRORS[name] ?? name;
}

function denoError(err: unknown): string {
  const name = err instanceof Error ? err.name : String(err);
  return name in Deno.errors ? `Deno.errors.${name}` : name;
}

/** A call's options as they would be written in JavaScript: `{ hostname: "0.0.0.0", port: 0 }`. */
function js(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 40
      ? `${JSON.stringify(value.slice(0, 24)).slice(0, -1)}..."`
      : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(js).join(", ")}]`;
  if (value && typeof value === "object") {
    const fields = Object.entries(value).filter(([, v]) => v !== undefined);
    return fields.length ? `{ ${fields.map(([k, v]) => `${k}: ${js(v)}`).join(", ")} }` : "{}";
  }
  return String(value);
}
