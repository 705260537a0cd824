/**
 * A server for the workers' tests: two workers that answer each connection with their number,
 * and die of an uncaught error on a connection whose first byte is `!` (a rejection that ends
 * its loop) or `#` (an exception thrown in a callback, as `node:tls` once threw, while the
 * loop goes on), so that a test can see a dead worker logged and replaced.
 * `deno run -N --unstable-net --allow-read=. …`
 */

import { whenStopped } from "../../server/connections.ts";
import { runWorkers, WORKER } from "../../server/workers.ts";
import { flushLog } from "../../server/log.ts";

const COMMAND = { script: "tests/peers/crashing_workers.ts" };
if (!WORKER) Deno.exit(await runWorkers({ workers: 2, host: "127.0.0.1", port: 0 }, COMMAND));

using stop = WORKER.stopTrap();
const listener = Deno.listen({ hostname: "127.0.0.1", port: WORKER.port, reusePort: true });
whenStopped(stop.signal, () => listener.close());
WORKER.console.log(`waiting for connection on 127.0.0.1:${WORKER.port}...`);
WORKER.up();
for await (const conn of listener) {
  const first = new Uint8Array(1);
  await conn.read(first);
  if (first[0] === 0x21) throw new Error("dying on purpose");
  if (first[0] === 0x23) {
    conn.close();
    setTimeout(() => {
      throw new Error("dying in a callback");
    });
    continue;
  }
  await conn.write(new TextEncoder().encode(`${WORKER.number}\n`));
  conn.close();
}
WORKER.console.log("server stopped");
await flushLog(); // before the stop trap says "stopped": the first thread's last line comes after
