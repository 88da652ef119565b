"""The official Python SDK client signing in to an `oauth` MCP server with its own
OAuthClientProvider: discovery from the 401, dynamic registration, PKCE, the code exchange,
and a refresh once the access token has expired. The person is played by fetching the
consent page and posting it with an API token. Prints what it saw as JSON.

Usage: python mcp_oauth_client.py <mcp url> <api token>
"""

import asyncio
import html
import json
import re
import sys

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:9/callback"


class MemoryStorage:
    """What a real client keeps on disk."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def provider(url: str, storage: MemoryStorage, api_token: str) -> OAuthClientProvider:
    redirected: dict[str, str | None] = {}

    async def redirect_handler(authorization_url: str) -> None:
        # The person: opens the consent page, signs in with the API token, then allows on
        # the page that names the server.
        def hidden(page: str) -> list[tuple[str, str]]:
            return [(name, html.unescape(value)) for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)]

        async with httpx2.AsyncClient() as http:
            endpoint = str(httpx2.URL(authorization_url).join("/oauth/authorize"))
            page = (await http.get(authorization_url)).text
            review = await http.post(endpoint, data=dict(hidden(page) + [("api_token", api_token), ("decision", "sign_in")]))
            answer = await http.post(endpoint, data=dict(hidden(review.text) + [("decision", "allow")]))
            location = httpx2.URL(answer.headers["location"])
            redirected["code"] = location.params.get("code")
            redirected["state"] = location.params.get("state")
            # RFC 9207: the issuer the answer came from, which the SDK checks against metadata.
            redirected["iss"] = location.params.get("iss")

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=redirected["code"], state=redirected["state"], iss=redirected["iss"])

    metadata = OAuthClientMetadata(
        client_name="Python SDK test client",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


async def main(url: str, api_token: str) -> None:
    storage = MemoryStorage()
    auth = provider(url, storage, api_token)
    transport = streamable_http_client(url, http_client=create_mcp_http_client(auth=auth))
    async with Client(transport) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        call = await client.call_tool("list_all_malomo_orders", {"limit": 2})
    first = storage.tokens.access_token

    # The access token's hour has passed (the clock cannot move here, so the provider's record
    # of it does): the next session refreshes it before calling.
    auth.context.token_expiry_time = 1
    transport = streamable_http_client(url, http_client=create_mcp_http_client(auth=auth))
    async with Client(transport) as client:
        again = await client.call_tool("list_all_malomo_orders", {"limit": 1})

    print(json.dumps({
        "registered": storage.client.client_id if storage.client else None,
        "tools": tools,
        "called": not call.is_error,
        "items": len(call.structured_content["result"]),
        "newAccessToken": storage.tokens.access_token != first,
        "calledAfterRefresh": not again.is_error,
    }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
