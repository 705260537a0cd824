import assert from "node:assert/strict";
import { proxyListener } from "./proxy_listener.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("proxyListener() says a client was silent past the deadline, even when a stop comes then", async () => {
  const lines: string[] = [];
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const trust = { from: ["127.0.0.1"], timeoutMs: 100 };
  const listener = proxyListener(tcp, trust, (line) => lines.push(line));
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: tcp.addr.port });
  await sleep(trust.timeoutMs); // the stop comes as the deadline passes
  listener.close();
  assert.equal(await conn.read(new Uint8Array(1)), null, "closed by the server");
  for (let i = 0; i < 50 && lines.length === 0; i++) await sleep(20);
  const client = `127.0.0.1:${(conn.localAddr as Deno.NetAddr).port}`;
  // Before: "the server stopped before its PROXY protocol header came", now and then.
  assert.deepEqual(lines, [`...closing ${client}: no PROXY protocol header within 0.1 s`]);
});
