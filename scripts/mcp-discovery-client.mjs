// The official TypeScript SDK client on a discovery server: lists its three tools, searches,
// describes and calls through them, and tries a write tool. Prints what it saw as JSON.
//
// Usage: node mcp-discovery-client.mjs <mcp url>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url] = process.argv.slice(2);
const client = new Client({ name: 'specgate-discovery-test', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const listed = (await client.listTools()).tools.map((tool) => tool.name);
const search = async (query) =>
  (await client.callTool({ name: 'search_tools', arguments: { query } })).structuredContent.tools.map((t) => t.name);
const found = await search('orders');
const writes = await search('create delete update');
const described = (await client.callTool({ name: 'get_tool_schema', arguments: { name: 'list_all_malomo_orders' } })).structuredContent;
const called = await client.callTool({ name: 'call_tool', arguments: { name: 'list_all_malomo_orders', arguments: { limit: 2 } } });
let refused = null;
try {
  await client.callTool({ name: 'call_tool', arguments: { name: 'delete_a_malomo_order_by_id', arguments: { id: 'ord_0001' } } });
} catch (error) {
  refused = error.code;
}
await client.close();
console.log(JSON.stringify({
  listed,
  found,
  writes,
  describedType: described.inputSchema.type,
  items: called.structuredContent.result.length,
  refused,
}));
