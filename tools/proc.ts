/**
 * What Linux's `/proc` says of a running process, for the tests and the soak and bench tools.
 *
 * @module
 */

const decoder = new TextDecoder();

/**
 * A memory field of `/proc/PID/status`, in KiB: `VmRSS` (resident now) or `VmHWM` (its peak).
 * Read through `cat`, since Deno asks for `--allow-all` to read `/proc` itself.
 *
 * @throws {Error} If the process has no such field (it has exited, say).
 */
export async function memoryKiB(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const match = decoder.decode(stdout).match(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m"));
  if (!match) throw new Error(`no ${field} for process ${pid}`);
  return Number(match[1]);
}
