/**
 * What Linux's `/proc` says of a running process, for the tests and the soak and bench tools,
 * and how those tools start the servers they measure.
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

/**
 * How many file descriptors a process holds open: the entries of `/proc/PID/fd`, listed by `ls`
 * for the same reason as {@linkcode memoryKiB}.
 *
 * @throws {Error} If the process has exited.
 */
export async function openFiles(pid: number): Promise<number> {
  const { code, stdout } = await new Deno.Command("ls", { args: [`/proc/${pid}/fd`] }).output();
  if (code !== 0) throw new Error(`no descriptors for process ${pid}`);
  return decoder.decode(stdout).split("\n").filter(Boolean).length;
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

/**
 * What one CPU has done so far, from its line in `/proc/stat`, in clock ticks: `busy` (user,
 * system, and the kernel's interrupt and network work on it), `total` (busy and idle: the time
 * the CPU was ours), and `steal` (the time a hypervisor gave it to others instead). The busy
 * share of a core between two readings says whether a program pinned to it was the limit: a
 * process's own CPU time misses the network work the kernel does for it on that core.
 *
 * @throws {Error} If there is no such CPU.
 */
export async function cpuTicks(
  cpu: number | "all",
): Promise<{ busy: number; total: number; steal: number }> {
  const { stdout } = await new Deno.Command("cat", { args: ["/proc/stat"] }).output();
  const name = cpu === "all" ? "cpu " : `cpu${cpu} `;
  const line = decoder.decode(stdout).split("\n").find((line) => line.startsWith(name));
  if (!line) throw new Error(`no CPU ${cpu} in /proc/stat`);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
    .slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, total: busy + idle + iowait, steal };
}

/** A server that is listening, started by {@linkcode startListening}. */
export interface Listening {
  child: Deno.ChildProcess;
  port: number;
  /** All it writes to stderr, once it has exited. */
  stderr: Promise<string>;
}

/**
 * Ours say `waiting for … on 127.0.0.1:PORT...`; the Python and Node peers `listening on PORT`.
 * On a Unix socket, `…on unix:/path...` or `listening on /path`: there is no port (0).
 */
const PORT_LINE = /(?:listening on |:)(?:(\d+)|\/\S*?)(?:\.\.\.)?\n/;

/**
 * Starts a server and waits, 10 s at most, until it says which port it listens on. Its later
 * output is read and dropped (the book's server logs every client).
 *
 * @throws {Error} If it exits, or says nothing of a port, first.
 */
export async function startListening(command: string[], cwd?: string): Promise<Listening> {
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 10_000);
  let text = "";
  try {
    while (!PORT_LINE.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${command.join(" ")} did not start: ${text}${await stderr}`);
      text += decoder.decode(value);
    }
  } finally {
    clearTimeout(deadline);
  }
  reader.releaseLock();
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
  return { child, port: Number(text.match(PORT_LINE)![1] ?? 0), stderr };
}
