/**
 * Python's `UDPServer` and `UnixDatagramServer` ({@linkcode DatagramServer}), and its
 * `DatagramRequestHandler`: a handler's `setup()`, `handle()`, `finish()` per datagram.
 *
 * @module
 */

import type { DatagramAddress } from "./addresses.ts";
import { cannotReply, Replies } from "./datagrams.ts";
import { attempt } from "../lib/cli.ts";
import { BaseRequestHandler, BaseServer, type Console, run } from "./socket_server.ts";

/** Handles one datagram: its bytes are {@linkcode packet}; {@linkcode write} answers its sender. */
export abstract class DatagramRequestHandler
  extends BaseRequestHandler<Uint8Array, DatagramServer> {
  /** The datagram's bytes, cut to the server's `bufsiz`, as `recvfrom()` cuts them. */
  get packet(): Uint8Array {
    return this.request;
  }

  /** Sends `data` to the datagram's sender, in one datagram, like `sendto()`. */
  async write(data: Uint8Array): Promise<void> {
    await this.server.send(data, this.clientAddress);
  }
}

/** A datagram handler class, as the server takes it. */
export type DatagramHandlerClass = new (
  ...args: ConstructorParameters<typeof DatagramRequestHandler>
) => DatagramRequestHandler;

/** Where a datagram server listens, and how much of a datagram it takes. */
export interface DatagramServerOptions {
  address: DatagramAddress; // a Unix datagram socket is served by `server/`
  bufsiz?: number; // the most bytes of a datagram a handler sees; the rest is cut (8,192)
  quiet?: boolean; // log no line per datagram
  console?: Console; // where to write (`console`)
}

/**
 * Binds a UDP or Unix datagram socket (Python's `UDPServer` and `UnixDatagramServer`; needs
 * `--unstable-net`) and serves every datagram with a new handler: over UDP, many at once.
 */
export class DatagramServer extends BaseServer<DatagramRequestHandler> {
  #Handler: DatagramHandlerClass;
  #socket: Deno.DatagramConn;
  #replies?: Replies;

  /** `socket()` + `bind()`, then the server: Python's `UDPServer(address, Handler)`. */
  static async listen(
    options: DatagramServerOptions,
    Handler: DatagramHandlerClass,
  ): Promise<DatagramServer> {
    const { address } = options;
    const socket = "path" in address
      ? await (await import("./unix.ts"))
        .listenUnixDatagram(address.path, address.mode)
      : attempt("listen on", address, () => Deno.listenDatagram({ ...address, transport: "udp" }));
    return new DatagramServer(socket, options, Handler);
  }

  /** A server on a socket bound already; handlers answer on `socket`. */
  constructor(
    socket: Deno.DatagramConn,
    readonly options: Readonly<DatagramServerOptions>,
    Handler: DatagramHandlerClass,
  ) {
    super(options);
    this.#socket = socket;
    this.#Handler = Handler;
  }

  /** The socket: over AF_UNIX, a new one at the same path once a sender stopped reading. */
  get socket(): Deno.DatagramConn {
    return this.#replies?.socket ?? this.#socket;
  }

  /**
   * Sends `data` to `client`: `true` if it went out. Over AF_UNIX, dropped (`false`) if `client`
   * does not read its replies (see `Replies.send` in lib/datagrams.ts).
   */
  send(data: Uint8Array, client: Deno.Addr): Promise<boolean> {
    const sendTo = (socket: Deno.DatagramConn) => socket.send(data, client);
    return this.#replies?.send(client, sendTo) ?? sendTo(this.socket).then(() => true);
  }

  /** The bound address; with port 0, this is where to learn the port. */
  get address(): Deno.Addr {
    return this.socket.addr;
  }

  /**
   * Receives datagrams and serves each with a new handler, without waiting for it, until
   * `signal` aborts; the socket is then closed once the replies in flight are out.
   */
  async serveForever(signal: AbortSignal): Promise<void> {
    const buffer = new Uint8Array(this.options.bufsiz ?? 8192);
    // Deno cannot send on a Unix datagram socket while a receive() waits on it ("Socket
    // already in use"): there, each datagram is served before the next is taken, as Python's
    // plain UDPServer does.
    const oneAtATime = this.socket.addr.transport === "unixpacket";
    const replies = this.#replies = new Replies(this.socket, signal, this.warn);
    while (!signal.aborted) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await replies.receive(buffer);
      } catch (err) {
        if (replies.ended(err)) break;
        continue;
      }
      if (signal.aborted) break; // the stop closed the socket just as this came
      const [data, client] = received;
      if (!this.verifyRequest(client)) continue;
      // The buffer is reused for the next datagram while this one is served: copy it.
      const handler = new this.#Handler(data.slice(), client, this);
      const served = replies.track(run(handler)).catch((err) => this.handleError(err, handler));
      if (oneAtATime) await served;
    }
  }

  /** Waits for the replies in flight (`SHUTDOWN_DEADLINE_MS` at most), then closes the socket. */
  async shutdown(): Promise<void> {
    await (this.#replies ??= new Replies(this.socket, AbortSignal.abort())).close();
  }

  /** A reply that could not be sent concerns its sender only (a line a second at most). */
  override handleError(err: unknown, handler: DatagramRequestHandler): void {
    if (this.#replies) this.#replies.unanswered(err, handler.clientAddress);
    else this.warn(cannotReply(err, handler.clientAddress));
  }
}
