/**
 * The stamp's format, which servers write (`timestamp.ts`) and clients read (`reply.ts`):
 * `[Thu Jun  4 19:56:18 2020] `, the time as Python's `time.ctime()` writes it.
 *
 * @module
 */

export const WEEKDAYS = "Sun Mon Tue Wed Thu Fri Sat".split(" ");
export const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");
/** Bytes in a stamp, `[` + ctime + `] `, for years 1000 to 9999. */
export const STAMP_LENGTH = 27;
