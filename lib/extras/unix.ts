/**
 * Unix domain sockets (`AF_UNIX`), for `--unix PATH`: a socket is a file, so a server takes over
 * a file left by a server that is gone, never one a live server holds nor one that is not a
 * socket; it gives the file its mode (who may connect, or send) as it is made, and removes only
 * the file it made. Deno needs leave to read and write the path as well as `-N`, and
 * `--allow-sys` for the umask.
 *
 * @module
 */

import { attempt, Failure } from "../errors.ts";
import { formatAddress } from "../net.ts";
import { Throttled } from "../throttled.ts";

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
 * can no longer be used: our file is removed first, so the old socket no longer receives.
 * @throws {Failure} If the file at `path` is no longer ours: another server holds the path now.
 */
export function rebindUnixDatagram(path: string): Promise<Deno.DatagramConn> {
  const ours = made.get(path);
  if (!ours || !isOurs(path)) {
    throw new Failure(`Cannot listen on unix:${path} again: another server has taken it over`);
  }
  removeIfOurs(path);
  return listenUnixDatagram(path, ours.mode! & 0o777);
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
  return await attempt("listen on", { path }, async () => {
    let socket: T;
    try {
      socket = bind();
    } catch (err) {
      // Another server bound the path since we looked: it is not a port, so say so.
      if (err instanceof Deno.errors.AddrInUse) {
        throw new Failure(`Cannot listen on unix:${path}: it is in use by a running server`);
      }
      throw err;
    } finally {
      Deno.umask(umask);
    }
    made.set(path, await Deno.lstat(path));
    return socket;
  });
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
    try {
      if (!(await Deno.lstat(path)).isSocket) throw fail("it exists, and is not a socket");
      (await Deno.connect({ transport: "unix", path })).close();
      throw fail("it is in use by a running server");
    } catch (err) {
      if (err instanceof Failure) throw err;
      if (err instanceof Deno.errors.ConnectionRefused) return await Deno.remove(path); // stale
      if (err instanceof Deno.errors.NotFound) return;
      // A datagram socket answers a stream's connect so: someone holds it.
      if (/wrong type/.test((err as Error).message)) throw fail("it is in use by a running server");
      throw err;
    }
  });
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

/** Replies to Unix datagram clients that may never read them, for `Replies` (lib/datagrams.ts). */
export class UnreadReplies {
  // The senders whose reply is stuck in their full queue: their replies are dropped at once
  // until it goes out or fails (they read, or leave); said at most once a second each.
  #stuck = new Map<string, Throttled>();

  constructor(readonly warn: (line: string) => void) {}

  /**
   * Sends with `sendTo(socket)`: whether the reply went out, and the socket to go on with. A
   * reply not out within `UNREAD_REPLY_MS` is dropped, and so are the next ones to its sender
   * until that one ends. Its `send()` keeps our socket busy, so that it can no longer receive:
   * unless we are stopping, the socket is closed and a new one bound at our path.
   */
  async send(
    socket: Deno.DatagramConn,
    client: Deno.UnixAddr,
    sendTo: (socket: Deno.DatagramConn) => Promise<number>,
    stopping: AbortSignal,
  ): Promise<{ sent: boolean; socket: Deno.DatagramConn }> {
    const path = client.path!;
    const stuck = this.#stuck.get(path);
    if (stuck) return { sent: this.#dropped(stuck, client), socket };
    const sending = sendTo(socket);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(resolve, UNREAD_REPLY_MS, "late");
    });
    try {
      if (await Promise.race([sending, late]) !== "late") return { sent: true, socket };
    } finally {
      clearTimeout(timer);
    }
    // Stuck: Deno spins on it (a core, at worst) until that client reads or leaves; close()
    // does not end it. The socket is left to it, and closed: its descriptor goes when it ends.
    const dropping = new Throttled(this.warn);
    this.#stuck.set(path, dropping);
    sending.catch(() => {}).finally(() => this.#stuck.delete(path));
    this.#dropped(dropping, client);
    if (stopping.aborted) return { sent: false, socket }; // the stop closes it, removes the file
    const fresh = await rebindUnixDatagram((socket.addr as Deno.UnixAddr).path);
    socket.close();
    return { sent: false, socket: fresh };
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
