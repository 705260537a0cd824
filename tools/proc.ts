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

let ticksPerSecond: number | undefined;

/**
 * The CPU time a process has used so far, user and system, all its threads, in seconds: fields
 * 14 and 15 of `/proc/PID/stat`, in clock ticks (`getconf CLK_TCK`, 100 on Linux).
 *
 * @throws {Error} If the process has exited.
 */
export async function cpuSeconds(pid: number): Promise<number> {
  ticksPerSecond ??= Number(
    decoder.decode((await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output()).stdout),
  ) || 100;
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
  // The command name, in parentheses, may hold spaces; the fields after it are fixed.
  const stat = decoder.decode(stdout);
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  if (fields.length < 13) throw new Error(`no CPU times for process ${pid}`);
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}
