/**
 * TLS for a server: it accepts plain TCP with `Deno.listen`, and runs TLS over each connection
 * with Deno's `node:tls`. Why not `Deno.listenTls`: in Deno 2.9.6, closing one of its
 * connections whose handshake has not finished does not free the socket, so a client that never
 * says hello would keep a descriptor for as long as it stays connected. Here the TCP connection
 * is ours, and closing it frees it at once, whatever the handshake is doing.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { nextTick } from "node:process";
import { Duplex } from "node:stream";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import type { Session, Stream, StreamListener } from "./connections.ts";
import { attempt } from "../lib/cli.ts";
import { Failure, hostPort } from "../lib/command.ts";
import { writeAll } from "../lib/prompt.ts";
import { within } from "../lib/shutdown.ts";
import { explainTlsError } from "./tls.ts";

/** The most plaintext a TLS record holds: read from TCP this much at a time. */
const RECORD = 16 * 1024;
/**
 * What a connection reads into until its client's first bytes: most hellos whole, and a small
 * cost for a client that never sends one (1,000 silent clients held 16 MiB more with `RECORD`).
 */
const FIRST_READ = 1024;
/** Bytes decrypted but not read yet beyond which the client's input waits in TCP. */
const HIGH_WATER = 64 * 1024;
/** How long a closing connection waits for TLS's last words (an alert) to go out. */
const ALERT_MS = 200;
/**
 * The alert a TLS server sends a client whose first bytes are not TLS (a fatal
 * `unexpected_message`), so that a plain client can tell why: `node:tls` sends none.
 */
const NOT_TLS_ALERT = new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a]);

/**
 * `socket()` + `bind()` + `listen()`, with TLS on each connection accepted; the certificate
 * and key (PEM text) are checked first, so that a bad file fails here, in one sentence.
 */
export function listenTls(
  options: { hostname: string; port: number; tcpBacklog?: number; reusePort?: boolean },
  identity: { cert: string; key: string },
  around: (tcp: Deno.TcpListener) => StreamListener = (tcp) => tcp, // a PROXY header's reader
): StreamListener {
  const context = secureContext(identity, hostPort(options.hostname, options.port));
  const listener = around(attempt(
    "listen on",
    options,
    () => Deno.listen({ ...options, transport: "tcp" }),
  ));
  return {
    addr: listener.addr,
    accept: async () => new TlsServerConn(await listener.accept() as Carrier, context),
    close: () => listener.close(),
  };
}

/** What TLS runs over: a TCP connection (behind a balancer, after the PROXY header). */
type Carrier = Stream & { setNoDelay(noDelay?: boolean): void };

function secureContext(identity: { cert: string; key: string }, where: string): SecureContext {
  let why: string | undefined;
  try {
    const cert = new X509Certificate(identity.cert);
    try {
      if (!cert.checkPrivateKey(createPrivateKey(identity.key))) {
        why = "--tls-key is not the key of the certificate in --tls-cert";
      }
    } catch {
      why = "--tls-key holds no PEM private key";
    }
  } catch {
    why = "--tls-cert holds no PEM certificate";
  }
  if (why) throw new Failure(`Cannot listen on ${where} with TLS: ${why}`);
  return createSecureContext({ cert: identity.cert, key: identity.key });
}

/**
 * A TLS connection a server accepted: read and written like a `Deno.Conn`, over a
 * `Deno.TcpConn` that {@linkcode close} closes at once, handshake done or not. Its TLS state
 * (`node:tls`) is made when the client's first bytes come, so that a client that never says
 * hello holds a TCP connection and a small buffer, no more.
 */
export class TlsServerConn implements Stream {
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
  readonly via?: Deno.Addr; // the balancer, behind one (see formatPeer())
  readonly #tcp: Carrier;
  readonly #context: SecureContext;
  #tls: TLSSocket | undefined; // from the client's first bytes on
  readonly #secure = Promise.withResolvers<void>();
  #input: Buffer[] = []; // decrypted, not read yet
  #held = 0;
  #secured = false; // the handshake is done
  #ended = false; // the client is done sending
  #writeClosed = false; // closeWrite() came before TLS: it never will
  #closed = false;
  #failed: Error | undefined;
  #wake: (() => void) | undefined; // a read() waiting for input
  #pumpWaits: (() => void) | undefined; // the pump, while TLS or the reader has enough
  #lastWords: Promise<void> | undefined; // an alert of ours on its way

  constructor(tcp: Carrier, context: SecureContext) {
    this.#tcp = tcp;
    this.#context = context;
    // TLS writes whole records, so Nagle's algorithm has nothing to gather; it would hold the
    // first reply after a handshake back until the client's delayed ACK (40 ms).
    tcp.setNoDelay(true);
    this.localAddr = tcp.localAddr;
    this.remoteAddr = tcp.remoteAddr;
    this.via = tcp.via;
    this.#secure.promise.catch(() => {}); // what went wrong is handshake()'s to say, if asked
    this.#pump();
    // --trace: from here on, the trace shows this connection's plaintext, not TCP's records.
    (tcp as { traceTls?(tls: TlsServerConn): void }).traceTls?.(this);
  }

  /** Resolves once the handshake is done; rejects with why it failed. */
  handshake(): Promise<void> {
    return this.#secure.promise;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#input.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("the connection is closed");
      if (this.#failed) throw this.#failed;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < buffer.length && this.#input.length > 0) {
      const chunk = this.#input[0];
      const taken = Math.min(chunk.length, buffer.length - n);
      buffer.set(taken === chunk.length ? chunk : chunk.subarray(0, taken), n);
      n += taken;
      if (taken === chunk.length) this.#input.shift();
      else this.#input[0] = chunk.subarray(taken);
    }
    this.#held -= n;
    if (this.#held < HIGH_WATER && this.#tls!.isPaused()) this.#tls!.resume();
    this.#wakePump();
    return n;
  }

  /** Resolves once `data` is encrypted and handed to TCP: a client that never reads stalls it. */
  write(data: Uint8Array): Promise<number> {
    const tls = this.#tls;
    if (this.#closed || this.#failed || !tls) {
      return Promise.reject(
        this.#failed ?? new Deno.errors.NotConnected("no TLS session: the client has said nothing"),
      );
    }
    return new Promise((resolve, reject) => {
      tls.write(data, (err?: Error | null) => {
        if (!err) resolve(data.length);
        else reject(this.#closed ? new Deno.errors.BadResource("closed") : denoError(err));
      });
    });
  }

  /** Sends TLS's close_notify, then FIN (only FIN before the client has said anything). */
  closeWrite(): Promise<void> {
    const tls = this.#tls;
    if (tls) return new Promise((resolve) => tls.end(resolve));
    this.#writeClosed = true;
    return this.#tcp.closeWrite();
  }

  /** Closes the connection now: the socket is freed, and a pending read or write fails. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tls?.destroy();
    this.#secure.reject(this.#failed ?? new Deno.errors.UnexpectedEof()); // if still pending
    const closeTcp = () => {
      try {
        this.#tcp.close();
      } catch { /* closed already */ }
    };
    if (this.#lastWords) within(this.#lastWords, ALERT_MS).finally(closeTcp);
    else closeTcp();
    this.#wakeReader();
    this.#wakePump();
  }

  /** `setsockopt(TCP_NODELAY)` on the TCP connection under TLS. */
  setNoDelay(noDelay = true): void {
    this.#tcp.setNoDelay(noDelay);
  }

  /**
   * TLS over the TCP connection, for the client's first bytes: the stream TLS runs over (what
   * it writes goes out with `tcp.write()`; what comes in is pushed to it by #pump()), and the
   * TLS socket. Closing the TCP connection is close()'s: TLS ends its stream itself (after a
   * failed handshake, say) before it has said its last words.
   */
  #startTls(): Duplex {
    const tcp = this.#tcp;
    const carrier = new Duplex({
      read: () => this.#wakePump(), // TLS wants more
      write: (chunk: Uint8Array, _encoding, done) => writeAll(tcp, chunk).then(() => done(), done),
      final: (done) => tcp.closeWrite().then(() => done(), () => done()),
    });
    const tls = this.#tls = new TLSSocket(carrier, {
      isServer: true,
      secureContext: this.#context,
    });
    tls.once("secure", () => {
      this.#secured = true;
      // A TLSSocket made by hand, as here, tells of a record that breaks TLS after the
      // handshake only by an internal event, in Deno as in Node, and the connection waits for
      // its idle timeout; `tls.Server` releases control on `secure`, as this does, so that it
      // comes as `error`.
      (tls as { _releaseControl?(): boolean })._releaseControl?.();
      this.#secure.resolve();
    });
    tls.once("close", () => this.#secure.reject(this.#failed ?? new Deno.errors.UnexpectedEof()));
    tls.on("data", (chunk: Buffer) => {
      this.#input.push(chunk);
      this.#held += chunk.length;
      if (this.#held >= HIGH_WATER) tls.pause(); // TCP holds the rest back
      this.#wakeReader();
    });
    tls.on("end", () => {
      this.#ended = true;
      this.#wakeReader();
    });
    tls.on("error", (err: Error) => {
      this.#failed ??= this.#secured ? brokeTls(err) : denoError(err);
      if (!this.#secured && /InvalidContentType/.test(err.message)) {
        this.#lastWords = writeAll(tcp, NOT_TLS_ALERT).catch(() => {}); // close() waits for it
      }
      this.#wakeReader();
    });
    return carrier;
  }

  /**
   * Reads the client's bytes from TCP and gives them to TLS, as long as neither TLS's buffers
   * nor the reader's hold `HIGH_WATER` already: a client that sends and never reads our
   * replies is held back by TCP itself, as over plain TCP. Until the first bytes, it waits
   * with a small buffer, and no TLS.
   */
  async #pump(): Promise<void> {
    let buffer = new Uint8Array(FIRST_READ); // read into, then copied: a request is short
    let carrier: Duplex | undefined;
    try {
      while (true) {
        const n = await this.#tcp.read(buffer);
        if (n === null) break;
        const bytes = buffer.slice(0, n);
        if (!carrier) {
          if (this.#writeClosed || this.#closed) continue; // given up on: its last bytes dropped
          carrier = this.#startTls();
          buffer = new Uint8Array(RECORD);
          // TLS starts in a tick of its own (`TLSSocket._start()`); bytes given before it (a
          // PROXY header's reader has them at once) would fail it first, and its start would
          // then throw.
          await new Promise<void>((resolve) => nextTick(resolve));
        }
        let wantsMore = carrier.push(bytes);
        while (
          !this.#closed && (!wantsMore || this.#held + this.#tls!.readableLength >= HIGH_WATER)
        ) {
          await new Promise<void>((resolve) => this.#pumpWaits = resolve);
          wantsMore = carrier.readableLength < carrier.readableHighWaterMark;
        }
      }
      if (carrier) carrier.push(null);
      else this.#gone(new Deno.errors.UnexpectedEof("the client left before its TLS hello"));
    } catch (err) {
      if (carrier) carrier.destroy(err as Error); // reset, or closed by close()
      else this.#gone(err as Error);
    }
  }

  /** The client left, or reset, before TLS began: there is no session to end. */
  #gone(err: Error): void {
    this.#failed ??= err;
    this.#secure.reject(this.#failed);
    this.#wakeReader();
  }

  #wakePump(): void {
    const wake = this.#pumpWaits;
    this.#pumpWaits = undefined;
    wake?.();
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** The `Deno.errors` class of a `node:tls` error, so that a server tells routine from not. */
function denoError(err: Error): Error {
  if (Object.values(Deno.errors).some((kind) => err instanceof kind)) return err;
  const code = (err as { code?: string }).code ?? "";
  const Kind = {
    ECONNRESET: Deno.errors.ConnectionReset,
    ECONNABORTED: Deno.errors.ConnectionAborted,
    EPIPE: Deno.errors.BrokenPipe,
    ECANCELED: Deno.errors.BadResource, // we closed it while a write waited
    ERR_STREAM_DESTROYED: Deno.errors.BadResource,
    ERR_STREAM_PREMATURE_CLOSE: Deno.errors.UnexpectedEof,
  }[code];
  if (Kind) return new Kind(err.message, { cause: err });
  // A record that is not TLS, or that does not decrypt: the client broke the protocol.
  if (/^ERR_SSL_|^ERR_TLS_/.test(code)) {
    return new Deno.errors.InvalidData(err.message, { cause: err });
  }
  return err;
}

/**
 * An error after the handshake, from a record that breaks TLS: bytes that are not TLS records,
 * or one that does not decrypt (forged, corrupted, or an alert sent in the clear), said so.
 */
function brokeTls(err: Error): Error {
  const kind = denoError(err);
  if (!(kind instanceof Deno.errors.InvalidData)) return kind; // a reset, say
  const what = /InvalidContentType|wrong version/.test(err.message)
    ? "bytes that are not TLS records"
    : /decrypt|bad record mac/i.test(err.message)
    ? "a TLS record that does not decrypt"
    : "a TLS record out of place";
  // The innermost reason: "wrong version number", not "… InvalidContentType (SSL routines:…)".
  const detail = /\(([^()]*)\)$/.exec(err.message)?.[1].split(":").at(-1) ?? err.message;
  return new Deno.errors.InvalidData(`the client broke TLS: it sent ${what} (${detail})`, {
    cause: err,
  });
}

/**
 * A TLS connection's handshake, for `Connections`' `handshake`: bounded by `timeoutMs`, so that
 * a client that never sends its hello holds nothing for long. It runs in the connection's own
 * task, so no one else waits for it; a failure is logged on `log`, and the connection closed.
 */
export function tlsHandshake(
  timeoutMs: number,
  log?: (line: string) => void,
): (session: Session) => Promise<boolean> {
  const seconds = timeoutMs / 1000;
  return async (session) => {
    session.setDeadline(timeoutMs, `no TLS handshake within ${seconds} s`);
    try {
      await (session.conn as TlsServerConn).handshake();
      session.clearDeadline();
      session.touch(); // the idle clock starts now
      return true;
    } catch (err) {
      if (session.endedFor === null) {
        const why = explainTlsError(err, "server") ?? (err as Error).message;
        log?.(`...closing ${session.address}: TLS handshake failed: ${why}`);
      }
      session.abort();
      return false;
    }
  };
}
