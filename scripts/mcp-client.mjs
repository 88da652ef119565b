// Drives a specgate MCP URL with the official TypeScript SDK client and prints what it saw as
// JSON: every tool name (all tools/list pages), the ids from paging list_all_malomo_orders,
// the error code of a filtered-out tool, and what a call by the tracking-code lookup returned.
// Usage: node mcp-client.mjs <mcp url> [streamable|sse]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, transportName = "streamable"] = process.argv.slice(2);
const transport =
  transportName === "sse"
    ? new SSEClientTransport(new URL(`${url}/sse`))
    : new StreamableHTTPClientTransport(new URL(url));
const client = new Client({ name: "specgate-test-client", version: "1.0.0" });
await client.connect(transport);

const tools = [];
let cursor;
do {
  const page = await client.listTools(cursor ? { cursor } : {});
  tools.push(...page.tools.map((t) => t.name));
  cursor = page.nextCursor;
} while (cursor);

const ids = [];
let pages = 0;
let next;
do {
  const result = await client.callTool({
    name: "list_all_malomo_orders",
    arguments: next ? { limit: 2, next_cursor: next } : { limit: 2 },
  });
  if (result.isError) throw new Error(JSON.stringify(result.content));
  ids.push(...result.structuredContent.result.map((o) => o.id));
  next = result.structuredContent.next_cursor;
  pages += 1;
} while (next && pages < 10);

const refused = await client
  .callTool({ name: "delete_a_malomo_order_by_id", arguments: { id: "ord_0001" } })
  .then(() => null, (error) => error.code);

const byTrackingCode = await client.callTool({
  name: "get_single_malomo_orders_by_tracking_code_by_id",
  arguments: { id: "9400000003" },
});
const tracking = {
  isError: byTrackingCode.isError ?? false,
  deprecated: byTrackingCode._meta?.["io.specgate/deprecated"] ?? null,
  text: byTrackingCode.content.map((c) => c.text).join("\n"),
};

console.log(JSON.stringify({ server: client.getServerVersion(), tools, ids, pages, refused, tracking }));
await client.close();
