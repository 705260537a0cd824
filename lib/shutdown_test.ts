import assert from "node:assert/strict";
import { acceptAgain, unlessStopped } from "./shutdown.ts";

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

Deno.test("acceptAgain() goes on past a client gone before accept(), and throws what is not routine", async () => {
  const gone = Object.assign(new Error("gone"), { code: "ECONNABORTED" });
  await acceptAgain(gone);
  await assert.rejects(acceptAgain(new TypeError("a bug")), TypeError);
});
