// The official TypeScript SDK client signing in to an `oauth` MCP server with its own OAuth
// machinery: discovery from the 401, dynamic registration, PKCE, the code exchange and a
// refresh. The person is played by fetching the consent page and posting it with an API
// token. Prints what it saw as JSON.
//
// Usage: node mcp-oauth-client.mjs <mcp url> <api token>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [url, apiToken] = process.argv.slice(2);

/** An in-memory OAuthClientProvider: what a real client keeps in its storage. */
class MemoryProvider {
  constructor() {
    this.stored = {};
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return 'http://127.0.0.1:9/callback';
  }
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() { return this.stored.client; }
  saveClientInformation(client) { this.stored.client = client; }
  tokens() { return this.stored.tokens; }
  saveTokens(tokens) { this.stored.tokens = tokens; }
  redirectToAuthorization(authorizationUrl) { this.authorizationUrl = authorizationUrl; }
  saveCodeVerifier(verifier) { this.stored.verifier = verifier; }
  codeVerifier() { return this.stored.verifier; }
}

const unescape = (text) =>
  text.replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');

/** The hidden fields of a consent page's form. */
function hidden(page) {
  const form = new URLSearchParams();
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.append(name, unescape(value));
  }
  return form;
}

/** The person: opens the consent page, signs in with the API token, then allows on the page
 * that names the server. */
async function consent(authorizationUrl) {
  const endpoint = new URL('/oauth/authorize', authorizationUrl);
  const page = await (await fetch(authorizationUrl)).text();
  const signIn = hidden(page);
  signIn.append('api_token', apiToken);
  signIn.append('decision', 'sign_in');
  const review = await (await fetch(endpoint, { method: 'POST', body: signIn })).text();
  const allow = hidden(review);
  allow.append('decision', 'allow');
  const answer = await fetch(endpoint, { method: 'POST', body: allow, redirect: 'manual' });
  const location = answer.headers.get('location');
  if (!location) throw new Error(`consent answered ${answer.status}: ${await answer.text()}`);
  return new URL(location).searchParams.get('code');
}

async function connected(provider) {
  const client = new Client({ name: 'specgate-oauth-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  return client;
}

const provider = new MemoryProvider();
const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
let refusedBeforeSignIn = false;
try {
  await new Client({ name: 'specgate-oauth-test', version: '1.0.0' }).connect(first);
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  refusedBeforeSignIn = true;
}
const code = await consent(provider.authorizationUrl);
await first.finishAuth(code);
const firstAccess = provider.tokens().access_token;

let client = await connected(provider);
const tools = (await client.listTools()).tools.map((tool) => tool.name);
const call = await client.callTool({ name: 'list_all_malomo_orders', arguments: { limit: 2 } });
await client.close();

// A refresh, as the SDK does when its access token is refused or expired.
const refreshed = await auth(provider, { serverUrl: new URL(url) });
client = await connected(provider);
const again = await client.callTool({ name: 'list_all_malomo_orders', arguments: { limit: 1 } });
await client.close();

console.log(JSON.stringify({
  refusedBeforeSignIn,
  registered: provider.clientInformation().client_id,
  authorizationUrl: String(provider.authorizationUrl),
  tools,
  called: call.isError === false,
  items: call.structuredContent?.result?.length,
  refreshed,
  newAccessToken: provider.tokens().access_token !== firstAccess,
  calledAfterRefresh: again.isError === false,
}));
