/**
 * The bench's compiled programs, built when it starts: the load generator (`bench/load.c`), the
 * C epoll server and the Go server (`bench/peers/`). Each is built from source with the
 * system's own compiler into a folder of the run, so nothing binary is kept in the repository;
 * a missing compiler or a failed build is a reason, said in the results, not an error.
 *
 * @module
 */

const decoder = new TextDecoder();

/** A program built, or why it could not be. */
export type Built = { path: string } | { missing: string };

/** Runs `command`; its error output if it fails, or why it could not start. */
async function run(command: string, args: string[], env?: Record<string, string>) {
  try {
    const { success, stderr } = await new Deno.Command(command, {
      args,
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    return success ? undefined : decoder.decode(stderr).trim().split("\n").slice(0, 3).join(" ");
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? `\`${command}\` is not installed` : String(err);
  }
}

/** Compiles the C program at `source` into `out` with `cc -O2`. */
export async function buildC(source: string, out: string): Promise<Built> {
  const failed = await run("cc", ["-O2", "-Wall", "-o", out, source]);
  return failed === undefined ? { path: out } : { missing: `cc ${source}: ${failed}` };
}

/**
 * Compiles the Go program at `source` into `out` (Debian's `golang-go`), with a build cache in
 * `cacheDir` so that a run leaves nothing behind.
 */
export async function buildGo(source: string, out: string, cacheDir: string): Promise<Built> {
  const env = { GOCACHE: cacheDir, GOPATH: cacheDir, GO111MODULE: "off" };
  const failed = await run("go", ["build", "-o", out, source], env);
  if (failed === undefined) return { path: out };
  return { missing: failed.includes("not installed") ? failed : `go build ${source}: ${failed}` };
}
