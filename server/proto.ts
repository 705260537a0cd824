/**
 * The book's three timestamp protocols, as `--proto` names them for `tsd.ts`, `client.ts` and
 * the load generator (`bench/tsLoad.ts`): `tcp` (tsTserv's: a conversation per connection, every
 * read stamped), `ss` (tsTservSS's: one line per connection) and `udp` (tsUserv's).
 *
 * @module
 */

/** The three protocols. */
export const PROTOS = ["tcp", "ss", "udp"] as const;
/** One of {@linkcode PROTOS}. */
export type Proto = typeof PROTOS[number];

/** The `--proto` flag of a command (a `Flag<Proto>` of `lib/flags.ts`), `tcp` unless given. */
export function protoFlag(help: string) {
  return {
    name: "proto",
    value: "PROTO",
    help,
    default: "tcp" as Proto,
    parse(raw: string): Proto {
      if (!(PROTOS as readonly string[]).includes(raw)) {
        throw new RangeError(`must be one of ${PROTOS.join(", ")}, not "${raw}"`);
      }
      return raw as Proto;
    },
  };
}
