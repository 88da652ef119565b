// Calls a destructive tool through the official TypeScript SDK client (the 2.x `client`
// package, pinned to MCP 2026-07-28) and answers the confirmation question with ACTION,
// printing what it saw as JSON: the question's message, whether the result is an error, and
// its text. The SDK fulfils `input_required` itself through the `elicitation/create` handler.
// Usage: node mcp-confirm-client.mjs <mcp url> <accept|decline|cancel>
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, action] = process.argv.slice(2);
const client = new Client(
  { name: "specgate-confirm-client", version: "1.0.0" },
  {
    capabilities: { elicitation: { form: {} } },
    versionNegotiation: { mode: { pin: "2026-07-28" } },
  },
);
const asked = [];
client.setRequestHandler("elicitation/create", async (request) => {
  asked.push(request.params.message);
  return action === "accept" ? { action, content: { confirm: true } } : { action };
});
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const result = await client.callTool({ name: "delete_a_malomo_order_by_id", arguments: { id: "ord_0001" } });
console.log(
  JSON.stringify({
    asked,
    isError: Boolean(result.isError),
    text: result.content.map((c) => c.text ?? "").join("\n"),
  }),
);
await client.close();
