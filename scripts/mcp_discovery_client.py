"""The official Python SDK client on a discovery server: lists its three tools, searches,
describes and calls through them, and tries a write tool. Prints what it saw as JSON.

Usage: python mcp_discovery_client.py <mcp url>
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.shared.exceptions import MCPError


async def main(url: str) -> None:
    async with Client(url) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]

        async def search(query: str) -> list[str]:
            result = await client.call_tool("search_tools", {"query": query})
            return [tool["name"] for tool in result.structured_content["tools"]]

        found = await search("orders")
        writes = await search("create delete update")
        described = await client.call_tool("get_tool_schema", {"name": "list_all_malomo_orders"})
        called = await client.call_tool("call_tool", {"name": "list_all_malomo_orders", "arguments": {"limit": 2}})
        try:
            await client.call_tool("call_tool", {"name": "delete_a_malomo_order_by_id", "arguments": {"id": "ord_0001"}})
            refused = None
        except MCPError as error:
            refused = error.code
        print(json.dumps({
            "listed": listed,
            "found": found,
            "writes": writes,
            "describedType": described.structured_content["inputSchema"]["type"],
            "items": len(called.structured_content["result"]),
            "refused": refused,
        }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
