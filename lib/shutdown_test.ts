import assert from "node:assert/strict";
import { unlessStopped, whenStopped } from "./shutdown.ts";

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
