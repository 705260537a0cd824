/**
 * Unix domain sockets (`AF_UNIX`), for `--unix PATH`: a socket is a file, so a server takes over
 * a file left by a server that is gone, never one a live server holds nor one that is not a
 * socket; it gives the file its mode (who may connect, or send) as it is made, and removes only
 * the file it made. Deno needs leave to read and write the path as well as `-N`, and
 * `--allow-sys` for the umask.
 *
 * @module
 */

import { attempt } from "../lib/cli.ts";
import { Failure, formatAddress } from "../lib/command.ts";
import { Throttled } from "./throttled.ts";

/** The longest path a Unix socket's address holds on Linux, in bytes (`sun_path`, less a NUL). */
const MAX_UNIX_PATH = 107;

/**
 * `socket(AF_UNIX)` + `bind()` + `listen()` at `path`, its file given `mode` from the start (see
 * {@linkcode bindAt}). A stop's `close()` removes the file only if it is still the one we made.
 */
export async function listenUnix(path: string, mode: number): Promise<Deno.UnixListener> {
  const listener = await bindAt(path, mode, () => Deno.listen({ transport: "unix", path }));
  return new OwnFileListener(listener, path);
}

/**
 * `socket(AF_UNIX, SOCK_DGRAM)` + `bind()` at `path` (needs `--unstable-net`), with the rules of
 * {@linkcode listenUnix}. Unlike a stream listener's, its file stays after `close()`: remove it
 * with {@linkcode removeIfOurs}.
 */
export function listenUnixDatagram(path: string, mode: number): Promise<Deno.DatagramConn> {
  return bindAt(path, mode, () => Deno.listenDatagram({ transport: "unixpacket", path }));
}

/**
 * A fresh socket at `path`, with the mode of the file we made there, for a datagram socket that
 * can no longer be used. The path is never free meanwhile, so no one else can bind it: the new
 * socket is bound at a hidden name beside it (`.NAME.XXXXXX`), and renamed over our file.
 * Datagrams sent to `path` go to the new socket from then on; the old one keeps what came
 * before. (The new socket's own address stays the hidden name, which its replies carry.)
 * @throws {Failure} If the file at `path` is no longer ours (another server holds the path
 * now), or the new socket cannot be made.
 */
export async function rebindUnixDatagram(path: string): Promise<Deno.DatagramConn> {
  const ours = made.get(path);
  const fail = (why: string) => new Failure(`Cannot listen on unix:${path} again: ${why}`);
  if (!ours || !isOurs(path)) throw fail("another server has taken it over");
  const [folder, name] = [
    path.slice(0, path.lastIndexOf("/") + 1),
    path.slice(path.lastIndexOf("/") + 1),
  ];
  const hidden = (suffix: string) => {
    const beside = `${folder}.${name}.${suffix}`; // else a shorter name, for a long path
    return new TextEncoder().encode(beside).length <= MAX_UNIX_PATH
      ? beside
      : `${folder}.${suffix}`;
  };
  for (let tries = 0;; tries++) {
    const temporary = hidden(crypto.randomUUID().slice(0, 6));
    let socket: Deno.DatagramConn;
    try {
      socket = await underUmask(
        path,
        ours.mode! & 0o777,
        () => Deno.listenDatagram({ transport: "unixpacket", path: temporary }),
      );
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse && tries < 3) continue; // that name is taken
      throw fail(explainBind(err, temporary));
    }
    try {
      Deno.renameSync(temporary, path); // atomic: `path` names our old socket, then this one
      made.set(path, Deno.lstatSync(path));
      return socket;
    } catch (err) {
      socket.close();
      Deno.remove(temporary).catch(() => {}); // (Deno leaves a datagram socket's file)
      throw fail(explainBind(err, path));
    }
  }
}

/** Why a socket could not be bound at, or moved to, `path`: in words a user can act on. */
function explainBind(err: unknown, path: string): string {
  if (err instanceof Deno.errors.NotCapable) {
    const folder = path.slice(0, path.lastIndexOf("/")) || "/";
    return `leave to read and write its folder was not granted (run with --allow-read=${folder} ` +
      `--allow-write=${folder})`;
  }
  return (err as Error).message.replace(/ \(os error \d+\)$/, "");
}

/** The socket files this process made, by path, as they were made (device and inode). */
const made = new Map<string, Deno.FileInfo>();

/**
 * Clears `path` of a stale file, then `bind()`s there under a umask that gives the file `mode`
 * from its first instant: a `chmod()` after the bind would leave others an instant to connect
 * (Deno's `umask()` needs `--allow-sys`; it is the process's, restored at once).
 */
async function bindAt<T>(path: string, mode: number, bind: () => T): Promise<T> {
  await clearStale(path, "listen on");
  return await attempt("listen on", { path }, async () => {
    let socket: T;
    try {
      socket = await underUmask(path, mode, bind);
    } catch (err) {
      // Another server bound the path since we looked: it is not a port, so say so.
      if (err instanceof Deno.errors.AddrInUse) {
        throw new Failure(`Cannot listen on unix:${path}: it is in use by a running server`);
      }
      throw inFolder(err, path, "listen on");
    }
    made.set(path, await Deno.lstat(path));
    return socket;
  });
}

/** `bind()` under a umask that gives the socket file `mode` (the process's, restored at once). */
function underUmask<T>(path: string, mode: number, bind: () => T): T {
  let umask: number;
  try {
    umask = Deno.umask(0o777 & ~mode);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    throw new Failure(
      `Cannot listen on unix:${path}: leave to set the umask, so that the socket file has its ` +
        "mode from the start, was not granted (run with --allow-sys)",
    );
  }
  try {
    return bind();
  } finally {
    Deno.umask(umask);
  }
}

/** Whether the file at `path` is still the socket file we made there. */
function isOurs(path: string): boolean {
  const ours = made.get(path);
  try {
    const now = Deno.lstatSync(path);
    return ours !== undefined && now.dev === ours.dev && now.ino === ours.ino;
  } catch {
    return false; // gone
  }
}

/**
 * Removes the socket file we made at `path`, unless it is no longer ours: another server may
 * have taken the path over since (its file replaced ours), and its file is not ours to remove.
 */
export function removeIfOurs(path: string): void {
  if (isOurs(path)) Deno.removeSync(path);
  made.delete(path);
}

/**
 * A Unix stream listener whose `close()` spares a file that is not ours. Deno's own `close()`
 * removes whatever file is at the path by then, another server's too; so when the file is no
 * longer ours, our socket, which no path reaches any more, is left open and unreferenced until
 * the process exits (the scripts end with `Deno.exit()`, which removes nothing), and `accept()`
 * ends as if it had been closed.
 */
class OwnFileListener implements Deno.UnixListener {
  #closed = Promise.withResolvers<never>();

  constructor(readonly listener: Deno.UnixListener, readonly path: string) {
    this.#closed.promise.catch(() => {}); // it rejects only to end an accept()
  }

  get addr(): Deno.UnixAddr {
    return this.listener.addr;
  }

  accept(): Promise<Deno.UnixConn> {
    return Promise.race([this.listener.accept(), this.#closed.promise]);
  }

  close(): void {
    // Deno removes the file once the accept() in flight has ended, before it reports the end.
    if (isOurs(this.path)) this.listener.close();
    else {
      this.listener.unref();
      this.#closed.reject(new Deno.errors.BadResource("the listener is closed"));
    }
    made.delete(this.path);
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<Deno.UnixConn> {
    while (true) {
      try {
        yield await this.accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource) return;
        throw err;
      }
    }
  }

  ref(): void {
    this.listener.ref();
  }

  unref(): void {
    this.listener.unref();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Makes `path` free for a new socket: removes a socket file that nothing serves any more
 * (connecting is refused); a file a running server holds, or that is not a socket, or a path
 * too long, is an error.
 */
async function clearStale(path: string, action: "listen on") {
  const fail = (why: string) => new Failure(`Cannot ${action} unix:${path}: ${why}`);
  if (new TextEncoder().encode(path).length > MAX_UNIX_PATH) {
    throw fail(`the path is too long for a Unix socket (at most ${MAX_UNIX_PATH} bytes)`);
  }
  await attempt(action, { path }, async () => {
    let socket = false;
    try {
      if (!(await Deno.lstat(path)).isSocket) throw fail("it exists, and is not a socket");
      socket = true;
      (await Deno.connect({ transport: "unix", path })).close();
      throw fail("it is in use by a running server");
    } catch (err) {
      if (err instanceof Failure) throw err;
      if (err instanceof Deno.errors.ConnectionRefused) { // stale
        return await Deno.remove(path).catch((err) => Promise.reject(inFolder(err, path, action)));
      }
      if (err instanceof Deno.errors.NotFound) return;
      // A datagram socket answers a stream's connect so: someone holds it.
      if (/wrong type/.test((err as Error).message)) throw fail("it is in use by a running server");
      if (socket && err instanceof Deno.errors.PermissionDenied) {
        throw fail("it is a socket this user may not connect to, to see whether a server holds it");
      }
      throw inFolder(err, path, action);
    }
  });
}

/**
 * A failure to make a socket file at `path` that its folder explains, in words: no such folder,
 * or one this user may not make files in (which `lib/explain.ts`, for TCP, takes for a port
 * below 1024); any other error, unchanged.
 */
function inFolder(err: unknown, path: string, action: "listen on"): unknown {
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const why = err instanceof Deno.errors.NotFound
    ? `no such folder: ${folder}`
    : err instanceof Deno.errors.NotADirectory
    ? `a part of ${folder} is not a folder`
    : err instanceof Deno.errors.PermissionDenied
    ? `permission denied: this user may not make a socket in ${folder} (see the folder's ` +
      "permissions)"
    : undefined;
  return why ? new Failure(`Cannot ${action} unix:${path}: ${why}`, { cause: err }) : err;
}

/** `socket(AF_UNIX)` + `connect()` to `path`. */
export function connectUnix(path: string): Promise<Deno.UnixConn> {
  return attempt("connect to", { path }, () => Deno.connect({ transport: "unix", path }));
}

/**
 * A Unix datagram client's own socket: a reply needs a path to come back to, so it binds one,
 * `client.sock`, in a folder of its own under the system's temporary folder; `await using`
 * removes both.
 */
export async function unixDatagramClient(): Promise<
  { socket: Deno.DatagramConn } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "tsUclnt-" }).catch((err) => {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    throw new Failure(
      "Cannot make a folder for our socket in the system's temporary folder: leave to write " +
        "there was not granted (run with -N --allow-read=/tmp --allow-write=/tmp, or $TMPDIR)",
    );
  });
  try {
    // A folder of our own, that only we may enter: no stale file to clear, no mode to set.
    const path = `${dir}/client.sock`;
    const socket = attempt(
      "open a socket on",
      { path },
      () => Deno.listenDatagram({ transport: "unixpacket", path }),
    );
    return {
      socket,
      async [Symbol.asyncDispose]() {
        socket.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

/**
 * How long a reply over AF_UNIX may take to go out. A Unix datagram goes into its receiver's
 * queue (`net.unix.max_dgram_qlen`, 10 by default); a sender that never reads its replies fills
 * it, and past that point Deno's `send()` neither ends nor can be cancelled.
 */
export const UNREAD_REPLY_MS = 200;

/** How long a socket given up on is read before it is closed: what waited on it has come by then. */
const DRAIN_MS = 50;
/** A datagram of no bytes from one of our own sockets: a wake-up for `receive()`, not a request. */
const WAKE = new Uint8Array(0);

/**
 * Replies to Unix datagram clients that may never read them, for `Replies` (lib/datagrams.ts),
 * and the sockets that such a client leaves stuck. A reply not out within `UNREAD_REPLY_MS` is
 * dropped, and so are the next ones to its sender until that one ends. Deno's stuck `send()`
 * keeps its socket busy, so that it can no longer receive: the server goes on with a new socket
 * at its path ({@linkcode rebindUnixDatagram}), and the old one is given up on until the stuck
 * send ends (that client reads, or leaves). Then the datagrams that came to it before the new
 * socket took the path are received and answered, and it is closed: none is lost.
 */
export class UnreadReplies {
  #stuck = new Map<string, Throttled>(); // senders whose reply is stuck: their replies are dropped
  #given = new Set<Deno.DatagramConn>(); // sockets given up on, stuck in a send
  #freed: Deno.DatagramConn[] = []; // given up on, and free again: read, then closed
  #from: Deno.DatagramConn | undefined; // where the datagram being answered came, if freed
  #names = new Set<string>(); // the addresses of the sockets given up on: wake-ups come from them
  #wakes = new Map<string, Promise<void>>(); // by address: done once it is read again
  #unreadWakes = 0; // sent, and not yet received
  #busy: Promise<void> | undefined; // the current socket's stuck send, with no new socket
  #closed = false;

  /** `path`: where the server listens; `warn`: what concerns a sender, or the socket. */
  constructor(readonly warn: (line: string) => void, readonly path: string) {}

  /**
   * Whether {@linkcode receive} has more to do than the current socket's `receive()`: a socket
   * given up on is to be read, or will be, and says so with a wake-up.
   */
  get draining(): boolean {
    return this.#given.size > 0 || this.#freed.length > 0 || this.#busy !== undefined ||
      this.#unreadWakes > 0;
  }

  /**
   * `receive()` for the server's loop: first what waits on sockets given up on and free again,
   * then on `current`.
   */
  async receive(current: Deno.DatagramConn, buffer: Uint8Array): Promise<[Uint8Array, Deno.Addr]> {
    while (true) {
      await this.#busy;
      const old = this.#from = this.#freed[0];
      let received: [Uint8Array, Deno.Addr] | undefined;
      if (old) {
        const receiving = old.receive(buffer);
        receiving.catch(() => {}); // closed below, if nothing comes
        let timer: ReturnType<typeof setTimeout> | undefined;
        const empty = new Promise<undefined>((resolve) =>
          timer = setTimeout(() => resolve(undefined), DRAIN_MS)
        );
        received = await Promise.race([receiving, empty]).catch(() => undefined);
        clearTimeout(timer);
        if (!received) {
          this.#freed.shift();
          old.close(); // all it held is answered
          continue;
        }
      } else received = await current.receive(buffer);
      const [data, sender] = received;
      const from = (sender as Deno.UnixAddr).path ?? "";
      if (data.length > 0 || !this.#names.has(from)) return received;
      this.#unreadWakes--;
      await this.#wakes.get(from); // a socket given up on is free again: read it first
    }
  }

  /**
   * Sends with `sendTo(socket)` from the socket the datagram came on: whether the reply went
   * out, and the socket to go on with (a new one, if `current` was given up on).
   */
  async send(
    current: Deno.DatagramConn,
    client: Deno.UnixAddr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
    stopping: AbortSignal,
  ): Promise<{ sent: boolean; socket: Deno.DatagramConn }> {
    const path = client.path!;
    const stuck = this.#stuck.get(path);
    if (stuck) return { sent: this.#dropped(stuck, client), socket: current };
    const socket = this.#from ?? current;
    const sending = sendTo(socket);
    if (await this.#outInTime(sending)) return { sent: true, socket: current };
    // Stuck: Deno spins on it (a core, at worst) until that client reads or leaves; close()
    // does not end it.
    const dropping = new Throttled(this.warn);
    this.#stuck.set(path, dropping);
    const ended = sending.then(() => {}, () => {}).finally(() => this.#stuck.delete(path));
    this.#dropped(dropping, client);
    if (socket === current && !stopping.aborted) {
      try {
        const fresh = await rebindUnixDatagram(this.path);
        this.#giveUp(current, ended);
        return { sent: false, socket: fresh };
      } catch (err) {
        this.warn(`...${(err as Error).message}; answering again once the stuck reply ends`);
        this.#busy = ended.finally(() => this.#busy = undefined);
        return { sent: false, socket: current };
      }
    }
    if (socket !== current) this.#giveUp(socket, ended); // a freed one, stuck again
    return { sent: false, socket: current };
  }

  /** Closes the sockets given up on (a stuck one's descriptor goes when its send ends). */
  close(): void {
    this.#closed = true;
    for (const socket of [...this.#given, ...this.#freed]) socket.close();
  }

  /** Whether `sending` went out within `UNREAD_REPLY_MS`. */
  async #outInTime(sending: Promise<unknown>): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(resolve, UNREAD_REPLY_MS, "late")
    );
    try {
      return await Promise.race([sending, late]) !== "late";
    } finally {
      clearTimeout(timer);
    }
  }

  /** `socket` is stuck in a send until `ended`: then what waits on it is read (see receive()). */
  #giveUp(socket: Deno.DatagramConn, ended: Promise<void>): void {
    if (this.#freed[0] === socket) this.#freed.shift();
    this.#given.add(socket);
    this.#names.add((socket.addr as Deno.UnixAddr).path!);
    ended.then(() => this.#wake(socket));
  }

  /**
   * `socket`'s stuck send has ended: it is read again, first. A wake-up datagram from it to our
   * path ends a `receive()` that waits on the current socket, so that this happens now.
   */
  #wake(socket: Deno.DatagramConn): void {
    if (this.#closed) return;
    this.#unreadWakes++;
    const waking = socket.send(WAKE, { transport: "unixpacket", path: this.path });
    this.#wakes.set(
      (socket.addr as Deno.UnixAddr).path!,
      waking.then(() => {}, () => this.#unreadWakes--).then(() => {
        this.#given.delete(socket);
        this.#freed.push(socket);
      }),
    );
  }

  #dropped(dropping: Throttled, client: Deno.UnixAddr): false {
    dropping.note((count) => {
      const what = count > 1 ? `${count} replies` : "a reply";
      return `...dropped ${what} to ${formatAddress(client)}: it does not read its replies ` +
        "(its queue is full)";
    });
    return false;
  }
}
