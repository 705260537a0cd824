/**
 * TLS, which the book's `ssl()` starts "with no certificate verification": here a server shows a
 * certificate (`tls_server.ts`), and a client checks it against the system's CAs (and any `--ca`
 * given) and the name it asked for. Each failure is one sentence that says what to do.
 *
 * @module
 */

import { explainNetError } from "../lib/explain.ts";
import { Failure, hostPort } from "../lib/command.ts";

/**
 * The most bytes a PEM file may hold. A certificate chain or a key is a few KiB, and the
 * system's whole CA bundle some 200 KiB: 1 MiB is room for any, and all that a flag's file costs.
 */
export const MAX_PEM_BYTES = 1 << 20;

/**
 * Reads a PEM file that the user named with `option`, if it is a regular file of at most
 * `MAX_PEM_BYTES`: what it is comes first, from `stat()`, so that a FIFO is never opened (which
 * waits for a writer) and a device never read (`/dev/zero` has no end). Without leave to read
 * it, the flag it names lets all of `together` be read (a certificate and its key): one fix,
 * not one a file.
 */
export function readPem(path: string, option: string, together = [path]): string {
  const fail = (why: string, cause?: unknown) =>
    new Failure(`Cannot read ${option} ${path}: ${why}`, { cause });
  let file: Deno.FsFile | undefined;
  try {
    const check = (info: Deno.FileInfo) => {
      const kind = notRegular(info);
      if (kind) throw fail(`it is ${kind}, not a PEM file`);
      if (info.size > MAX_PEM_BYTES) {
        throw fail(
          `it is ${info.size.toLocaleString("en-US")} bytes, too big for a PEM certificate ` +
            "chain or key (1 MiB at most)",
        );
      }
    };
    check(Deno.statSync(path));
    file = Deno.openSync(path);
    check(file.statSync()); // the file opened, if another took its place meanwhile
    const bytes = new Uint8Array(MAX_PEM_BYTES + 1); // and no more, if it grows meanwhile
    let size = 0;
    while (size < bytes.length) {
      const n = file.readSync(bytes.subarray(size));
      if (n === null) break;
      size += n;
    }
    if (size > MAX_PEM_BYTES) throw fail("it is too big for a PEM certificate chain or key");
    return new TextDecoder().decode(bytes.subarray(0, size));
  } catch (err) {
    if (err instanceof Failure) throw err;
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable
      ? `reading it was not granted (run with --allow-read=${together.join(",")})`
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (err as Error).message;
    throw fail(why, err);
  } finally {
    file?.close();
  }
}

/** What a file is, if not a regular file: "a directory", "a FIFO (a named pipe)", … */
function notRegular(info: Deno.FileInfo): string | undefined {
  if (info.isFile) return undefined;
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (a named pipe)";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  return info.isSocket ? "a socket" : "not a regular file";
}

/**
 * A line for a private key file that users besides its owner may read, as ssh refuses such a
 * key (a server warns, and goes on): what to run to make it private.
 */
export function keyWarning(path: string, option: string): string | undefined {
  let mode: number | null;
  try {
    mode = Deno.statSync(path).mode;
  } catch {
    return undefined; // reading it will say why
  }
  if (mode === null || (mode & 0o044) === 0) return undefined;
  const who = mode & 0o004 ? "every user" : "its group";
  const quoted = /^[\w./@%+=:,-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;
  return `warning: ${option} ${path} is a private key that ${who} may read ` +
    `(mode ${(mode & 0o777).toString(8).padStart(3, "0")}): run chmod 600 ${quoted}`;
}

/** What a failed TLS handshake means, for a person: a client's view, then a server's. */
export function explainTlsError(err: unknown, side: "client" | "server"): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  const alert = /received fatal alert: (\w+)/.exec(message)?.[1];
  if (alert && side === "client") return `the server refused the handshake (${alert})`;
  if (alert) {
    const ask = {
      UnknownCA: "does it trust our CA?",
      BadCertificate: "is our certificate for the name it asked for?",
      CertificateExpired: "is our certificate valid now?",
    }[alert];
    return `the client refused our certificate (${alert}${ask ? `: ${ask}` : ""})`;
  }
  if (/UnknownIssuer/.test(message)) {
    return "the server's certificate is not signed by a CA this machine trusts " +
      "(add its CA with --ca FILE)";
  }
  const name = /not valid for name "([^"]*)"; certificate is only valid for (.*)$/.exec(message);
  if (name) {
    const valid = name[2].replace(/(?:DnsName|IpAddress)\("?([^")]*)"?\)/g, "$1")
      .replace("0::1", "::1");
    return `the server's certificate is not valid for the name "${name[1]}" (only for ${valid})`;
  }
  if (/Expired/.test(message)) return "the server's certificate has expired";
  if (/NotValidYet/.test(message)) return "the server's certificate is not valid yet";
  if (/InvalidContentType|corrupt message/.test(message)) {
    return side === "client"
      ? "the server does not speak TLS (is it a plain server? then leave out --tls)"
      : "the client does not speak TLS (a plain client at a TLS server?)";
  }
  return undefined;
}

/**
 * `socket()` + `connect()`, then the TLS handshake: the server's certificate must be signed by
 * a CA this machine trusts, or by one of `caCerts` (PEM), and be valid now for `hostname`.
 *
 * @throws {Failure} If the connection or the handshake fails; it says why.
 */
export async function connectTls(
  hostname: string,
  port: number,
  caCerts?: string[],
): Promise<Deno.TlsConn> {
  let conn: Deno.TcpConn | Deno.TlsConn | undefined;
  try {
    // TCP first, to turn Nagle's algorithm off, which a TLS connection cannot: else a write
    // that follows the handshake waits for the server's delayed ACK (40 ms).
    conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    conn = await Deno.startTls(conn, { hostname, caCerts });
    await conn.handshake();
    return conn;
  } catch (err) {
    try {
      conn?.close();
    } catch {
      // taken over by startTls, or closed already
    }
    const why = explainTlsError(err, "client");
    if (!why) throw explainNetError(err, "connect to", hostname, hostPort(hostname, port));
    throw new Failure(`Cannot connect to ${hostPort(hostname, port)}: ${why}`, { cause: err });
  }
}
