"""Drives a specgate MCP URL with the official Python SDK client and prints what it saw as
JSON, in the same shape as mcp-client.mjs: every tool name (all tools/list pages), the ids
from paging list_all_malomo_orders, and the error code of a filtered-out tool.

Usage: python mcp_client.py <mcp url> [streamable|sse]
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError


async def main(url: str, transport: str) -> None:
    server = sse_client(f"{url}/sse") if transport == "sse" else url
    async with Client(server) as client:
        tools = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools.extend(tool.name for tool in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break

        ids = []
        pages = 0
        next_cursor = None
        while True:
            arguments = {"limit": 2}
            if next_cursor:
                arguments["next_cursor"] = next_cursor
            result = await client.call_tool("list_all_malomo_orders", arguments)
            if result.is_error:
                raise SystemExit(f"tool error: {result.content}")
            ids.extend(order["id"] for order in result.structured_content["result"])
            next_cursor = result.structured_content["next_cursor"]
            pages += 1
            if not next_cursor or pages >= 10:
                break

        try:
            await client.call_tool("delete_a_malomo_order_by_id", {"id": "ord_0001"})
            refused = None
        except MCPError as error:
            refused = error.code

        by_tracking_code = await client.call_tool("get_single_malomo_orders_by_tracking_code_by_id", {"id": "9400000003"})
        tracking = {
            "isError": bool(by_tracking_code.is_error),
            "deprecated": (by_tracking_code.meta or {}).get("io.specgate/deprecated"),
            "text": "\n".join(getattr(c, "text", "") for c in by_tracking_code.content),
        }

        info = client.server_info
        print(json.dumps({"server": {"name": info.name if info else None}, "tools": tools, "ids": ids, "pages": pages, "refused": refused, "tracking": tracking}))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "streamable"), timeout=60))
