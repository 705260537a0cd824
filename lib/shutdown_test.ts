import assert from "node:assert/strict";
import { Connections, unlessStopped, whenStopped } from "./shutdown.ts";

Deno.test("unlessStopped() gives the result, or null as soon as the signal aborts", async () => {
  const controller = new AbortController();
  assert.equal(await unlessStopped(Promise.resolve(7), controller.signal), 7);
  const never = new Promise<number>(() => {});
  const waiting = unlessStopped(never, controller.signal);
  controller.abort();
  assert.equal(await waiting, null);
  assert.equal(await unlessStopped(Promise.reject(new Error("late")), controller.signal), null);
  await assert.rejects(
    unlessStopped(Promise.reject(new Error("boom")), new AbortController().signal),
    /boom/,
  );
});

Deno.test("Connections.drain() waits for tasks in flight, then closes the rest at the deadline", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const clients = [
    await Deno.connect({ hostname: "127.0.0.1", port }),
    await Deno.connect({ hostname: "127.0.0.1", port }),
  ];
  const [quick, stuck] = [await listener.accept(), await listener.accept()];
  const connections = new Connections();
  let quickDone = false;
  connections.add(
    quick,
    new Promise((resolve) =>
      setTimeout(() => {
        quickDone = true;
        quick.close();
        resolve();
      }, 50)
    ),
  );
  // A task stuck in a read only ends when its connection is closed for it.
  connections.add(stuck, stuck.read(new Uint8Array(8)).then(() => {}, () => {}));
  assert.equal(connections.size, 2);
  const started = performance.now();
  await connections.drain(300);
  const took = performance.now() - started;
  assert.ok(quickDone);
  assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  assert.equal(connections.size, 0);
  for (const client of clients) client.close();
});

Deno.test("whenStopped() runs its action on abort, or at once if the signal has aborted", () => {
  const controller = new AbortController();
  let runs = 0;
  whenStopped(controller.signal, () => runs++);
  assert.equal(runs, 0);
  controller.abort();
  assert.equal(runs, 1);
  whenStopped(controller.signal, () => runs++);
  assert.equal(runs, 2);
});
