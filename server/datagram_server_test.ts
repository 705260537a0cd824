import assert from "node:assert/strict";
import { DatagramRequestHandler, DatagramServer } from "./datagram_server.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("DatagramServer serves each datagram with a handler, refuses what verifyRequest refuses, and finishes replies at a stop", async () => {
  const calls: string[] = [];
  class Handler extends DatagramRequestHandler {
    override setup() {
      calls.push("setup");
    }
    override async handle() {
      const said = text(this.packet);
      calls.push(`handle ${said}`);
      if (said === "slow") await new Promise((resolve) => setTimeout(resolve, 200));
      await this.write(bytes(`re: ${said}`));
    }
    override finish() {
      calls.push("finish");
    }
  }
  const address = { hostname: "127.0.0.1", port: 0 };
  const server = await DatagramServer.listen({ address, bufsiz: 4, quiet: true }, Handler);
  server.verifyRequest = (from) => (from as Deno.NetAddr).port !== refusedPort;
  const to = server.address;
  const controller = new AbortController();
  const serving = server.serveForever(controller.signal);

  const refused = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const refusedPort = (refused.addr as Deno.NetAddr).port;
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await refused.send(bytes("ignored"), to);
    await client.send(bytes("hello"), to); // cut to bufsiz, as recvfrom() would
    assert.equal(text((await client.receive())[0]), "re: hell");
    await client.send(bytes("slow"), to);
    await new Promise((resolve) => setTimeout(resolve, 50)); // being handled
    controller.abort();
    await serving;
    await server.shutdown(); // waits for the slow reply before it closes the socket
    assert.equal(text((await client.receive())[0]), "re: slow");
    assert.deepEqual(calls, ["setup", "handle hell", "finish", "setup", "handle slow", "finish"]);
  } finally {
    refused.close();
    client.close();
  }
});
