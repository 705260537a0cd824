/**
 * The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`), versions 1 (a line of text) and 2
 * (binary): a balancer in front of a server sends, before its client's bytes, who the client
 * is, which the server's own `accept()` cannot tell it. Parsing only, no I/O: a server feeds
 * in what it has read so far until a header comes back; what follows it is the client's.
 *
 * @module
 */

/**
 * A header that breaks the protocol; its message says how, in a few words. The connection
 * should be dropped: the spec allows no guessing, or anyone could claim any address.
 */
export class ProxyHeaderError extends Error {
  override name = "ProxyHeaderError";
}

/** What a whole header says. */
export interface ProxyHeader {
  version: 1 | 2;
  /** The header's length in bytes: what follows it is the client's own data. */
  length: number;
  /**
   * The client's address and port, for a PROXY command over TCP (v1 TCP4/TCP6, v2 PROXY with
   * AF_INET/AF_INET6 + STREAM). IPv6 comes in RFC 5952's form, as Deno gives a peer's.
   */
  source?: { hostname: string; port: number };
  /** The address the client connected to (the balancer's front), when `source` is given. */
  destination?: { hostname: string; port: number };
  /**
   * v2 LOCAL (a balancer's own health check), v1 UNKNOWN, or v2 PROXY with an address family
   * we do not take (UNSPEC, AF_UNIX, DGRAM): no client address; serve it as the balancer itself.
   */
  local: boolean;
}

/**
 * The most bytes a v2 header's address block (its length field) may say. The spec allows
 * 65,535, but the largest address takes 216 (AF_UNIX) and the TLVs balancers send (ALPN, SNI,
 * a unique ID of at most 128, TLS facts) a few hundred more: 1024 holds them all, and bounds
 * what a stranger can make us keep before we know the bytes are a header at all.
 */
export const MAX_V2_LENGTH = 1024;

/** The longest v1 header, its CRLF included (the spec's 107: UNKNOWN with two IPv6s). */
export const MAX_V1_LENGTH = 107;

const V1_START = [..."PROXY "].map((char) => char.charCodeAt(0));
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const CR = 0x0d;
const LF = 0x0a;
const V1_PROTOCOLS = ["TCP4", "TCP6", "UNKNOWN"];

/**
 * The address block's least size for each v2 family and protocol byte the spec lists; any
 * other byte must be refused. Only TCP over IPv4 (0x11) and IPv6 (0x21) give an address.
 */
const V2_ADDRESS_SIZES: Record<number, number> = {
  0x00: 0, // UNSPEC
  0x11: 12, // TCP over IPv4: two addresses of 4 bytes, two ports of 2
  0x12: 12, // UDP over IPv4
  0x21: 36, // TCP over IPv6: two addresses of 16 bytes, two ports of 2
  0x22: 36, // UDP over IPv6
  0x31: 216, // AF_UNIX stream: two paths of 108 bytes
  0x32: 216, // AF_UNIX datagram
};

/**
 * Reads a header from the first bytes of a connection, `bytes` being all received so far:
 * `undefined` while more bytes are needed (never past the bounds: a v1 header with no CRLF in
 * 107 bytes, or a v2 header past 16 + MAX_V2_LENGTH bytes, throws), the header once whole.
 * Bytes past the header are not looked at.
 * @throws {ProxyHeaderError} As soon as the bytes cannot begin a valid header (so a non-PROXY
 * client is refused after its first byte or few).
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader | undefined {
  const startsAs = (start: number[]) =>
    start.every((byte, i) => i >= bytes.length || bytes[i] === byte);
  if (startsAs(V2_SIGNATURE)) return bytes.length > V2_SIGNATURE.length ? v2(bytes) : undefined;
  if (startsAs(V1_START)) return bytes.length > V1_START.length ? v1(bytes) : undefined;
  throw new ProxyHeaderError("not a PROXY protocol header");
}

/** A v1 header, from bytes that begin "PROXY ". */
function v1(bytes: Uint8Array): ProxyHeader | undefined {
  const seen = Math.min(bytes.length, MAX_V1_LENGTH);
  // The line ends at the first CR, which must be the CRLF: a lone CR or LF must never end it,
  // or an UNKNOWN line would run on into the client's own data to find one.
  let end = seen;
  for (let i = V1_START.length; i < seen; i++) {
    if (bytes[i] === LF) throw new ProxyHeaderError("LF without CR in v1 header");
    if (bytes[i] !== CR) continue;
    if (i + 1 < seen && bytes[i + 1] !== LF) {
      throw new ProxyHeaderError("CR without LF in v1 header");
    }
    end = i;
    break;
  }
  const whole = end + 1 < seen; // its LF came too, within the 107 bytes
  // Byte for character: a byte past ASCII stays one character, and fails as one.
  const text = String.fromCharCode(...bytes.subarray(V1_START.length, end));
  const [protocol, ...fields] = text.split(" ");
  const tooLong = () => {
    if (bytes.length < MAX_V1_LENGTH) return undefined;
    throw new ProxyHeaderError(`v1 header longer than ${MAX_V1_LENGTH} bytes`);
  };
  if (fields.length === 0 && !whole) {
    if (V1_PROTOCOLS.some((name) => name.startsWith(protocol))) return tooLong();
  } else if (protocol === "UNKNOWN") { // the spec says to ignore what else the line holds
    return whole ? { version: 1, length: end + 2, local: true } : tooLong();
  }
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw new ProxyHeaderError(`unknown protocol in v1 header: ${JSON.stringify(protocol)}`);
  }
  if (fields.length > 4 || (whole && fields.length < 4)) {
    throw new ProxyHeaderError(`v1 ${protocol} header with ${fields.length} fields, not 4`);
  }
  // Each field as it comes: one still arriving only has to be able to become a valid one.
  const ipv6 = protocol === "TCP6";
  fields.forEach((field, i) => {
    const partial = !whole && i === fields.length - 1;
    if (!isV1Field(field, i, ipv6, partial)) {
      const what = i < 2 ? "address" : "port";
      throw new ProxyHeaderError(`bad ${what} in v1 header: ${JSON.stringify(field)}`);
    }
  });
  if (!whole) return tooLong();
  const [src, dst, srcPort, dstPort] = fields;
  const hostname = (field: string) => ipv6 ? formatIPv6(parseIPv6(field)!) : field;
  return {
    version: 1,
    length: end + 2,
    source: { hostname: hostname(src), port: Number(srcPort) },
    destination: { hostname: hostname(dst), port: Number(dstPort) },
    local: false,
  };
}

/** A v2 header, from bytes that begin with its signature and have at least one byte more. */
function v2(bytes: Uint8Array): ProxyHeader | undefined {
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f; // 0: LOCAL, 1: PROXY
  if (version !== 2) throw new ProxyHeaderError(`v2 header with version ${version}, not 2`);
  if (command > 1) throw new ProxyHeaderError(`v2 header with unknown command ${command}`);
  if (bytes.length < 14) return undefined;
  // LOCAL ignores the family byte, as the spec says; PROXY must name one it lists.
  const family = bytes[13];
  const least = command === 0 ? 0 : V2_ADDRESS_SIZES[family];
  if (least === undefined) {
    throw new ProxyHeaderError(`v2 header with unknown family 0x${family.toString(16)}`);
  }
  if (bytes.length < 16) return undefined;
  const length = (bytes[14] << 8) | bytes[15];
  if (length > MAX_V2_LENGTH) {
    throw new ProxyHeaderError(`v2 length ${length} past the cap of ${MAX_V2_LENGTH}`);
  }
  if (length < least) {
    throw new ProxyHeaderError(`v2 address block of ${length} bytes, less than ${least}`);
  }
  if (bytes.length < 16 + length) return undefined;
  // Whatever follows the addresses (TLVs) is skipped: the length covers it.
  const header: ProxyHeader = { version: 2, length: 16 + length, local: true };
  if (command === 0 || (family !== 0x11 && family !== 0x21)) return header;
  const size = family === 0x11 ? 4 : 16;
  const address = (at: number) => {
    const part = bytes.subarray(at, at + size);
    if (size === 4) return part.join(".");
    return formatIPv6(Array.from({ length: 8 }, (_, i) => (part[2 * i] << 8) | part[2 * i + 1]));
  };
  const port = (at: number) => (bytes[at] << 8) | bytes[at + 1];
  const ports = 16 + 2 * size;
  return {
    ...header,
    source: { hostname: address(16), port: port(ports) },
    destination: { hostname: address(16 + size), port: port(ports + 2) },
    local: false,
  };
}

/**
 * An address's bytes, as `inet_pton()` reads it: 4 for IPv4, 16 for IPv6; `undefined` if it is
 * neither. (`--proxy-from`'s networks are read with it too.)
 */
export function ipBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split(".").map(Number));
  const words = parseIPv6(text);
  return words && Uint8Array.from(words.flatMap((word) => [word >> 8, word & 0xff]));
}

/** Whether field `i` of a v1 TCP line is good, or with `partial` may still become good. */
function isV1Field(field: string, i: number, ipv6: boolean, partial: boolean): boolean {
  if (i >= 2) return (partial && field === "") || isDecimal(field, 0xffff);
  if (!ipv6) return isIPv4(field, partial);
  if (!partial) return parseIPv6(field) !== undefined;
  // The longest form is 45 characters; no group has 5 digits, no ":::", no second "::".
  return /^(?!.*:::|.*::.*::|.*[\dA-Fa-f]{5})[\dA-Fa-f:.]{0,45}$/.test(field);
}

/** Whether `text` is a decimal number from 0 to `most`, with no leading zero (not octal). */
function isDecimal(text: string, most: number): boolean {
  return /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= most;
}

/** Whether `text` is a dotted quad (with `partial`, the start of one). */
function isIPv4(text: string, partial = false): boolean {
  const parts = text.split(".");
  return (partial ? parts.length <= 4 : parts.length === 4) &&
    parts.every((part, i) =>
      isDecimal(part, 255) || (partial && part === "" && i === parts.length - 1)
    );
}

/**
 * The eight 16-bit groups of an IPv6 address in RFC 4291's text form, as `inet_pton()` takes
 * it: groups of 1 to 4 hex digits, at most one "::" for one or more zero groups, and maybe a
 * dotted quad for the last two (HAProxy sends IPv4-mapped addresses so). No zone ("%eth0").
 */
function parseIPv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = halves.map((half) => (half === "" ? [] : half.split(":")));
  const last = groups[groups.length - 1];
  if (last.length && last[last.length - 1].includes(".")) {
    const quad = last.pop()!;
    if (!isIPv4(quad)) return undefined;
    const [a, b, c, d] = quad.split(".").map(Number);
    last.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  if (groups.flat().some((group) => !/^[\dA-Fa-f]{1,4}$/.test(group))) return undefined;
  const [head, tail] = groups.map((half) => half.map((group) => parseInt(group, 16)));
  if (!tail) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...Array(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * RFC 5952's form, Deno's too: lower case, no leading zeros, the longest run of two or more
 * zero groups (the first of equals) as "::", and an IPv4-mapped address as a dotted quad.
 */
function formatIPv6(words: number[]): string {
  if (words.slice(0, 5).every((word) => word === 0) && words[5] === 0xffff) {
    return `::ffff:${words[6] >> 8}.${words[6] & 0xff}.${words[7] >> 8}.${words[7] & 0xff}`;
  }
  let best = { at: -1, length: 1 };
  for (let at = 0; at < 8; at++) {
    let length = 0;
    while (words[at + length] === 0) length++;
    if (length > best.length) best = { at, length };
  }
  const hex = words.map((word) => word.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`;
}
