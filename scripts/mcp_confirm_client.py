"""Calls a destructive tool through the official Python SDK client and answers the
confirmation question (if one comes) with ACTION, printing what it saw as JSON: the question's
message, whether the result is an error, and its text.

Usage: python mcp_confirm_client.py <mcp url | stdio:<specgate> <args...>> <mode> <action>
  mode: a protocol version to pin (2026-07-28), or `legacy` (the 2025 initialize handshake)
  action: accept, decline, cancel, or none (declare no elicitation at all)
"""

import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters, types
from mcp.client.stdio import stdio_client


async def main(target: list[str], mode: str, action: str) -> None:
    asked = []

    async def answer(context, params):
        asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action=action)

    if target[0].startswith("stdio:"):
        command = target[0][len("stdio:"):]
        server = stdio_client(StdioServerParameters(command=command, args=target[1:], env=dict(os.environ)))
    else:
        server = target[0]
    callback = None if action == "none" else answer
    async with Client(server, mode=mode, elicitation_callback=callback) as client:
        result = await client.call_tool("delete_a_malomo_order_by_id", {"id": "ord_0001"})
        print(json.dumps({
            "asked": asked,
            "isError": bool(result.is_error),
            "text": "\n".join(getattr(c, "text", "") for c in result.content),
            "protocol": client.protocol_version,
        }))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1:-2], sys.argv[-2], sys.argv[-1]), timeout=60))
