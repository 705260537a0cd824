/**
 * Unix domain sockets (`AF_UNIX`), for `--unix PATH`: a socket is a file, so a server takes over
 * a file left by a server that is gone, never one a live server holds nor one that is not a
 * socket, and sets the file's mode (who may connect, or send). Deno needs leave to read and
 * write the path as well as `-N`.
 *
 * @module
 */

import { attempt, Failure } from "../errors.ts";

/** The longest path a Unix socket's address holds on Linux, in bytes (`sun_path`, less a NUL). */
const MAX_UNIX_PATH = 107;

/**
 * `socket(AF_UNIX)` + `bind()` + `listen()` at `path`, its file given `mode`. The mode is set
 * just after the bind: where even that instant matters, put the socket in a folder that only
 * its owner may enter.
 */
export async function listenUnix(path: string, mode: number): Promise<Deno.UnixListener> {
  await clearStale(path, "listen on");
  return await attempt("listen on", { path }, async () => {
    const listener = Deno.listen({ transport: "unix", path });
    await Deno.chmod(path, mode);
    return listener;
  });
}

/**
 * `socket(AF_UNIX, SOCK_DGRAM)` + `bind()` at `path` (needs `--unstable-net`), with the rules of
 * {@linkcode listenUnix}. Unlike a stream listener's, its file stays after `close()`: remove it.
 */
export async function listenUnixDatagram(
  path: string,
  mode: number,
  action: "listen on" | "open a socket on" = "listen on",
): Promise<Deno.DatagramConn> {
  await clearStale(path, action);
  return await attempt(action, { path }, async () => {
    const socket = Deno.listenDatagram({ transport: "unixpacket", path });
    await Deno.chmod(path, mode);
    return socket;
  });
}

/**
 * Makes `path` free for a new socket: removes a socket file that nothing serves any more
 * (connecting is refused); a file a running server holds, or that is not a socket, or a path
 * too long, is an error.
 */
async function clearStale(path: string, action: "listen on" | "open a socket on") {
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
    const socket = await listenUnixDatagram(`${dir}/client.sock`, 0o600, "open a socket on");
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
