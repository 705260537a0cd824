import assert from "node:assert/strict";
import { whenStopped } from "./shutdown.ts";

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
