/**
 * `serve(listener, handler, options)`: a stream server's accept loop and the rules that keep one
 * client from hurting the others, in the manner of Go's `Server.Serve` and mini-redis's
 * `server::run`. The caller binds (`Deno.listen`, or a transport of `transport.ts`: TLS, a Unix
 * socket, a balancer's PROXY header) and says when to stop, by closing the listener; `serve()`
 * accepts, runs `handler` for each connection without waiting for it, and returns once the
 * connections it had are finished: each one's reply in flight goes out, within a deadline.
 *
 * ```ts
 * const listener = Deno.listen({ port: 21567 });
 * Deno.addSignalListener("SIGINT", () => listener.close());
 * await serve(listener, async (client) => {
 *   const buffer = new Uint8Array(1024);
 *   let n: number | null;
 *   while ((n = await client.read(buffer)) !== null) await client.write(buffer.subarray(0, n));
 * });
 * ```
 *
 * @module
 */

import {
  acceptor,
  Connections,
  type ConnectionsOptions,
  type Session,
  type Stream,
  type StreamListener,
} from "./connections.ts";
import { formatPeer } from "./net.ts";

/**
 * How `serve()` keeps its connections (see `Connections`): idle timeouts, a cap, a first step
 * such as TLS's handshake, where to say why a connection ended early (`log`) and what concerns
 * the server (`warn`). With `log`, each connection taken is said too.
 */
export type ServeOptions = ConnectionsOptions;

/**
 * Accepts from `listener` until it is closed, serving each connection with `handler` (its
 * `read()` gives `null` once the server ends it); then ends every connection politely, and
 * returns when they are done.
 */
export async function serve(
  listener: StreamListener,
  handler: (client: Session) => Promise<void>,
  options: ServeOptions = {},
): Promise<void> {
  const connections = new Connections(options);
  // accept() skips a client that left before we got it, waits while we are out of descriptors,
  // and gives null once the listener is closed (lib/connections.ts).
  const accept = acceptor<Stream>(listener, options.warn);
  let conn;
  while ((conn = await accept()) !== null) {
    // Beyond the cap, serve() closes it at once instead, and says so.
    if (connections.serve(conn, handler)) options.log?.(`...connected from: ${formatPeer(conn)}`);
  }
  await connections.shutdown();
}
