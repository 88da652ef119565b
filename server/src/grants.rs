//! The OAuth 2.1 authorization server every `oauth` MCP server signs in through, knowing no
//! transport: clients (Client ID Metadata Documents first, registration as the fallback),
//! authorization requests checked before consent, single-use codes bound to client, redirect
//! URI, PKCE challenge and resource, grants whose refresh tokens rotate, and access tokens
//! that open one MCP server for at most an hour. Errors are RFC 6749's.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use specgate_wire::oauth::{redirect_matches, usable_redirect};

use crate::crypto::{new_id, new_token};
use crate::state::AppState;
use crate::store::{
    AccessGrant, Account, IssuedToken, McpServer, NewCode, OAuthClient, StoreError, TokenScope, now,
};

/// Lifetimes, in seconds.
const CODE_SECS: i64 = 60;
const ACCESS_SECS: i64 = 3600;
const REFRESH_SECS: i64 = 30 * 86_400;
/// A registered client with no grant is removed after this.
const UNUSED_REGISTRATION_SECS: i64 = 7 * 86_400;
/// A client document is fetched again after this.
const DOCUMENT_SECS: i64 = 600;
/// The largest client document read.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The MCP transport paths below `/mcp/<token>` a resource may name.
const RESOURCE_SUFFIXES: [&str; 6] = [
    "",
    "/portable",
    "/sse",
    "/portable/sse",
    "/messages",
    "/portable/messages",
];

/// An OAuth error: its RFC 6749 (or RFC 7591, RFC 8707) code and a description.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The client is unknown, or its document unusable.
    #[error("{0}")]
    InvalidClient(String),
    /// The code or refresh token is unknown, expired, reused, or not this client's.
    #[error("{0}")]
    InvalidGrant(String),
    /// The resource is not an MCP server that signs in with OAuth.
    #[error("{0}")]
    InvalidTarget(String),
    /// Only `code` is supported.
    #[error("response_type must be `code`")]
    UnsupportedResponseType,
    /// Only `authorization_code` and `refresh_token` are supported.
    #[error("grant_type `{0}` is not supported; use authorization_code or refresh_token")]
    UnsupportedGrantType(String),
    /// A registration's redirect URI is not one a client may use.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// A registration's metadata is unusable.
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// The person denied the request.
    #[error("the request was denied")]
    AccessDenied,
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// specgate failed otherwise.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OAuthError {
    /// The `error` code the protocol sends.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::InvalidTarget(_) => "invalid_target",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::AccessDenied => "access_denied",
            Self::Store(_) | Self::Internal(_) => "server_error",
        }
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

/// The parameters of an authorization request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// Must be `code`.
    #[serde(default)]
    pub response_type: String,
    /// The client.
    #[serde(default)]
    pub client_id: String,
    /// Where the code goes.
    #[serde(default)]
    pub redirect_uri: String,
    /// Echoed back unchanged.
    #[serde(default)]
    pub state: Option<String>,
    /// PKCE S256 challenge.
    #[serde(default)]
    pub code_challenge: String,
    /// Must be `S256`.
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    /// The MCP URL (RFC 8707).
    #[serde(default)]
    pub resource: Option<String>,
    /// Accepted and ignored: a grant opens its whole MCP server, as its filters allow.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A checked authorization request: what the consent page shows.
#[derive(Debug, Clone)]
pub struct Consent {
    /// The request.
    pub request: AuthorizationRequest,
    /// The client asking.
    pub client: OAuthClient,
    /// The MCP server it asks for.
    pub server: McpServer,
    /// Its account.
    pub account: Account,
    /// The resource, as bound into the code.
    pub resource: String,
    /// Tools the server exposes.
    pub tool_count: usize,
    /// Whether every tool it exposes only reads.
    pub read_only: bool,
}

/// An authorization request that fails: on a page (the redirect URI is not trusted yet) or
/// back at the client's redirect URI.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown on a page; never redirected.
    #[error("{0}")]
    Page(OAuthError),
    /// Sent to the redirect URI with `error` and `state`.
    #[error("{error}")]
    Redirect {
        /// The client's redirect URI.
        redirect_uri: String,
        /// The request's `state`.
        state: Option<String>,
        /// What failed.
        error: OAuthError,
    },
}

/// Why a consent did not produce a code.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The request itself fails.
    #[error(transparent)]
    Authorize(#[from] AuthorizeError),
    /// The API token given does not sign in for this server; the page is shown again.
    #[error("{0}")]
    SignIn(&'static str),
}

/// A token request (RFC 6749 section 4.1.3 and 6), form-encoded.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    #[serde(default)]
    pub grant_type: String,
    /// The code.
    #[serde(default)]
    pub code: Option<String>,
    /// The redirect URI the code was sent to.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The client (public clients authenticate by id alone).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The PKCE verifier.
    #[serde(default)]
    pub code_verifier: Option<String>,
    /// The refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The MCP URL (RFC 8707).
    #[serde(default)]
    pub resource: Option<String>,
    /// Accepted and ignored.
    #[serde(default)]
    pub scope: Option<String>,
}

/// A successful token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// Opens the grant's MCP server.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    /// Single use; the response to it carries the next one.
    pub refresh_token: String,
}

/// A registration request (RFC 7591); other fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    /// Required, non-empty.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Shown on the consent page.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Whatever is asked, the client is registered as public (`none`).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
}

/// A registered client as RFC 7591 answers it.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// `sgc_...`.
    pub client_id: String,
    /// Unix seconds.
    pub client_id_issued_at: i64,
    /// Its name.
    pub client_name: String,
    /// Its redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Always `none`: public clients with PKCE.
    pub token_endpoint_auth_method: &'static str,
    /// `authorization_code` and `refresh_token`.
    pub grant_types: [&'static str; 2],
    /// `code`.
    pub response_types: [&'static str; 1],
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

impl AppState {
    /// The issuer: the public URL, without a trailing slash.
    pub fn issuer(&self) -> Option<String> {
        self.config
            .public_url
            .as_deref()
            .map(|url| url.trim_end_matches('/').to_owned())
    }

    /// The MCP URL (the resource) of an MCP token.
    pub fn resource_of(&self, mcp_token: &str) -> Option<String> {
        Some(format!("{}/mcp/{mcp_token}", self.issuer()?))
    }

    /// The `oauth` MCP server a resource URL names.
    pub async fn resource_server(
        &self,
        resource: &str,
    ) -> Result<(McpServer, Account), OAuthError> {
        let not_ours = || {
            OAuthError::InvalidTarget(format!(
                "`{resource}` is not the URL of an MCP server that signs in with OAuth here"
            ))
        };
        let prefix = format!("{}/mcp/", self.issuer().ok_or_else(not_ours)?);
        let rest = resource.strip_prefix(&prefix).ok_or_else(not_ours)?;
        let (token, suffix) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
        if token.is_empty() || !RESOURCE_SUFFIXES.contains(&suffix) {
            return Err(not_ours());
        }
        let (server, account, _) = self
            .store
            .resolve_token(&self.keys.hash_token(token), now())
            .await?
            .ok_or_else(not_ours)?;
        if !server.config.oauth {
            return Err(not_ours());
        }
        Ok((server, account))
    }

    /// A client by id: a registered one, or the metadata document its URL names (fetched
    /// through the egress guard, kept for ten minutes).
    pub async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, OAuthError> {
        let at = now();
        if let Some(client) = self.store.find_client(client_id).await?
            && (client.registered || client.expires_at > at)
        {
            return Ok(client);
        }
        if !client_id.starts_with("https://") && !client_id.starts_with("http://") {
            return Err(OAuthError::InvalidClient(format!(
                "unknown client `{}`",
                crate::provision::printable(client_id)
            )));
        }
        let client = self.fetch_client_document(client_id).await?;
        self.store.put_client(&client).await?;
        Ok(client)
    }

    async fn fetch_client_document(&self, client_id: &str) -> Result<OAuthClient, OAuthError> {
        let unusable = |why: String| {
            OAuthError::InvalidClient(format!("the client metadata document at {client_id} {why}"))
        };
        let url =
            reqwest::Url::parse(client_id).map_err(|e| unusable(format!("is not a URL: {e}")))?;
        crate::egress::check_url(&url, self.config.allow_insecure_upstreams)
            .map_err(|refusal| unusable(format!("cannot be fetched: its URL {refusal}")))?;
        if url.path() == "/" || url.fragment().is_some() {
            return Err(unusable("must have a path and no fragment".to_owned()));
        }
        let mut response = self
            .oauth_documents
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unusable(format!("could not be fetched ({})", describe(&e))))?;
        if !response.status().is_success() {
            return Err(unusable(format!(
                "answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unusable(format!("could not be read ({})", describe(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(unusable(format!(
                    "is larger than {MAX_DOCUMENT_BYTES} bytes"
                )));
            }
        }
        #[derive(Deserialize)]
        struct Document {
            client_id: String,
            #[serde(default)]
            client_name: Option<String>,
            #[serde(default)]
            redirect_uris: Vec<String>,
        }
        let document: Document = serde_json::from_slice(&body)
            .map_err(|e| unusable(format!("is not client metadata JSON: {e}")))?;
        if document.client_id != client_id {
            return Err(unusable(format!(
                "names another client_id (`{}`)",
                crate::provision::printable(&document.client_id)
            )));
        }
        if document.redirect_uris.is_empty()
            || !document.redirect_uris.iter().all(|u| usable_redirect(u))
        {
            return Err(unusable(
                "needs redirect_uris, each an https URI, a loopback http URI or an app's own scheme".to_owned(),
            ));
        }
        let at = now();
        Ok(OAuthClient {
            client_id: client_id.to_owned(),
            registered: false,
            name: client_name(document.client_name, &url),
            redirect_uris: document.redirect_uris,
            created_at: at,
            expires_at: at + DOCUMENT_SECS,
        })
    }

    /// Registers a public client (RFC 7591).
    pub async fn register_client(
        &self,
        request: RegistrationRequest,
    ) -> Result<Registration, OAuthError> {
        if request.redirect_uris.is_empty() {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect_uris must name at least one redirect URI".to_owned(),
            ));
        }
        if let Some(bad) = request.redirect_uris.iter().find(|u| !usable_redirect(u)) {
            return Err(OAuthError::InvalidRedirectUri(format!(
                "`{}` is not a usable redirect URI: use https, http to a loopback host, or an app's own scheme, without a fragment",
                crate::provision::printable(bad)
            )));
        }
        let name = match request.client_name {
            Some(name) if name.chars().any(char::is_control) || name.chars().count() > 200 => {
                return Err(OAuthError::InvalidClientMetadata(
                    "client_name must be at most 200 characters, without control characters"
                        .to_owned(),
                ));
            }
            Some(name) if !name.trim().is_empty() => name,
            _ => "an unnamed client".to_owned(),
        };
        let at = now();
        let client = OAuthClient {
            client_id: new_token("sgc_").map_err(OAuthError::internal)?,
            registered: true,
            name,
            redirect_uris: request.redirect_uris,
            created_at: at,
            expires_at: at + UNUSED_REGISTRATION_SECS,
        };
        self.store.put_client(&client).await?;
        Ok(Registration {
            client_id: client.client_id,
            client_id_issued_at: at,
            client_name: client.name,
            redirect_uris: client.redirect_uris,
            token_endpoint_auth_method: "none",
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
        })
    }

    /// Checks an authorization request: the client and its redirect URI first (failures are
    /// shown, never redirected), then the rest (failures go back to the redirect URI).
    pub async fn check_authorization(
        &self,
        request: AuthorizationRequest,
    ) -> Result<Consent, AuthorizeError> {
        if request.client_id.is_empty() {
            return Err(AuthorizeError::Page(OAuthError::InvalidRequest(
                "client_id is required".to_owned(),
            )));
        }
        let client = self
            .oauth_client(&request.client_id)
            .await
            .map_err(AuthorizeError::Page)?;
        let registered = client
            .redirect_uris
            .iter()
            .any(|registered| redirect_matches(registered, &request.redirect_uri));
        if !registered {
            return Err(AuthorizeError::Page(OAuthError::InvalidRequest(format!(
                "redirect_uri `{}` is not one client `{}` registered",
                crate::provision::printable(&request.redirect_uri),
                crate::provision::printable(&client.client_id)
            ))));
        }
        let back = |error| AuthorizeError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error,
        };
        if request.response_type != "code" {
            return Err(back(OAuthError::UnsupportedResponseType));
        }
        if request.code_challenge.is_empty()
            || request.code_challenge_method.as_deref() != Some("S256")
        {
            return Err(back(OAuthError::InvalidRequest(
                "PKCE is required: send code_challenge with code_challenge_method=S256 (plain is refused)".to_owned(),
            )));
        }
        let Some(resource) = request.resource.clone() else {
            return Err(back(OAuthError::InvalidTarget(
                "resource is required: send the MCP server's URL (RFC 8707)".to_owned(),
            )));
        };
        let (server, account) = self.resource_server(&resource).await.map_err(back)?;
        let tools: Vec<_> = self
            .catalog
            .visible(&account.integration, &server.config)
            .collect();
        Ok(Consent {
            tool_count: tools.len(),
            read_only: tools.iter().all(|t| t.def.annotations.read_only),
            request,
            client,
            server,
            account,
            resource,
        })
    }

    /// The person's decision on a checked request: with an API token that may open the
    /// server, a code for the redirect URI.
    pub async fn consent(
        &self,
        request: AuthorizationRequest,
        api_token: &str,
    ) -> Result<(Consent, String), ConsentError> {
        let consent = self.check_authorization(request).await?;
        let token = self
            .api_token(api_token)
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?
            .ok_or(ConsentError::SignIn("That is not a live API token."))?;
        let may_open = token.scope == TokenScope::Admin
            || token
                .account_id
                .as_ref()
                .is_none_or(|bound| *bound == consent.account.id);
        if !may_open {
            return Err(ConsentError::SignIn(
                "That API token is bound to another account's MCP servers.",
            ));
        }
        let code = new_token("sgo_").map_err(|e| AuthorizeError::Page(OAuthError::internal(e)))?;
        self.store
            .create_code(&NewCode {
                code_hash: self.keys.hash_token(&code),
                server_id: consent.server.id.clone(),
                client_id: consent.client.client_id.clone(),
                api_token_id: token.id,
                resource: consent.resource.clone(),
                redirect_uri: consent.request.redirect_uri.clone(),
                code_challenge: consent.request.code_challenge.clone(),
                expires_at: now() + CODE_SECS,
            })
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?;
        Ok((consent, code))
    }

    /// Answers a token request.
    pub async fn token(&self, request: TokenRequest) -> Result<TokenResponse, OAuthError> {
        match request.grant_type.as_str() {
            "authorization_code" => self.exchange_code(request).await,
            "refresh_token" => self.refresh_grant(request).await,
            "" => Err(OAuthError::InvalidRequest(
                "grant_type is required".to_owned(),
            )),
            other => Err(OAuthError::UnsupportedGrantType(
                crate::provision::printable(other),
            )),
        }
    }

    async fn exchange_code(&self, request: TokenRequest) -> Result<TokenResponse, OAuthError> {
        let required = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is required")))
        };
        let code = required(request.code, "code")?;
        let client_id = required(request.client_id, "client_id")?;
        let verifier = required(request.code_verifier, "code_verifier")?;
        let invalid =
            || OAuthError::InvalidGrant("the code is unknown, expired or already used".to_owned());
        let stored = self
            .store
            .find_code(&self.keys.hash_token(&code))
            .await?
            .ok_or_else(invalid)?;
        if let Some(grant_id) = stored.grant_id {
            // A code exchanged twice may have been stolen: end what it produced.
            self.store.delete_grant(&grant_id).await?;
            return Err(invalid());
        }
        let issued = &stored.code;
        if issued.expires_at <= now() {
            return Err(invalid());
        }
        if issued.client_id != client_id {
            return Err(OAuthError::InvalidGrant(
                "the code was issued to another client".to_owned(),
            ));
        }
        if request.redirect_uri.as_deref() != Some(issued.redirect_uri.as_str()) {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri must be the one the code was sent to".to_owned(),
            ));
        }
        if pkce_challenge(&verifier) != issued.code_challenge {
            return Err(OAuthError::InvalidGrant(
                "code_verifier does not match the code_challenge".to_owned(),
            ));
        }
        self.check_resource(request.resource.as_deref(), &issued.resource)
            .await?;
        let grant_id = new_id().map_err(OAuthError::internal)?;
        let (response, access, refresh) = self.new_tokens()?;
        if !self
            .store
            .redeem_code(issued, &grant_id, now(), &access, &refresh)
            .await?
        {
            // Another exchange of this code won the race: a replay like any other, so what
            // the winner got ends too.
            let taken = self.store.find_code(&issued.code_hash).await?;
            if let Some(winner) = taken.and_then(|stored| stored.grant_id) {
                self.store.delete_grant(&winner).await?;
            }
            return Err(invalid());
        }
        Ok(response)
    }

    async fn refresh_grant(&self, request: TokenRequest) -> Result<TokenResponse, OAuthError> {
        let raw = request
            .refresh_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is required".to_owned()))?;
        let invalid = || {
            OAuthError::InvalidGrant(
                "the refresh token is unknown, expired or already used".to_owned(),
            )
        };
        let hash = self.keys.hash_token(&raw);
        let stored = self.store.find_refresh(&hash).await?.ok_or_else(invalid)?;
        if stored.used {
            // A rotated refresh token presented again: someone holds a copy. End the grant.
            self.store.delete_grant(&stored.grant_id).await?;
            return Err(invalid());
        }
        if stored.expires_at <= now() {
            return Err(invalid());
        }
        if request
            .client_id
            .as_deref()
            .is_some_and(|id| id != stored.client_id)
        {
            return Err(OAuthError::InvalidGrant(
                "the refresh token was issued to another client".to_owned(),
            ));
        }
        self.check_resource(request.resource.as_deref(), &stored.resource)
            .await?;
        let (response, access, refresh) = self.new_tokens()?;
        if !self
            .store
            .rotate_refresh(&hash, &stored.grant_id, &access, &refresh)
            .await?
        {
            self.store.delete_grant(&stored.grant_id).await?;
            return Err(invalid());
        }
        Ok(response)
    }

    /// A `resource` sent with a token request must name the server the grant is for.
    async fn check_resource(&self, sent: Option<&str>, bound: &str) -> Result<(), OAuthError> {
        let Some(sent) = sent.filter(|s| *s != bound) else {
            return Ok(());
        };
        let (sent_server, _) = self.resource_server(sent).await?;
        let (bound_server, _) = self.resource_server(bound).await?;
        if sent_server.id == bound_server.id {
            Ok(())
        } else {
            Err(OAuthError::InvalidTarget(
                "resource names another MCP server than the grant's".to_owned(),
            ))
        }
    }

    fn new_tokens(&self) -> Result<(TokenResponse, IssuedToken, IssuedToken), OAuthError> {
        let access = new_token("sga_").map_err(OAuthError::internal)?;
        let refresh = new_token("sgr_").map_err(OAuthError::internal)?;
        let at = now();
        let issued_access = IssuedToken {
            hash: self.keys.hash_token(&access),
            expires_at: at + ACCESS_SECS,
        };
        let issued_refresh = IssuedToken {
            hash: self.keys.hash_token(&refresh),
            expires_at: at + REFRESH_SECS,
        };
        Ok((
            TokenResponse {
                access_token: access,
                token_type: "Bearer",
                expires_in: ACCESS_SECS,
                refresh_token: refresh,
            },
            issued_access,
            issued_refresh,
        ))
    }

    /// Revokes a token (RFC 7009), access or refresh, with its whole grant. An unknown token
    /// is no error; a token of another client is left alone.
    pub async fn revoke_token(
        &self,
        token: &str,
        client_id: Option<&str>,
    ) -> Result<(), OAuthError> {
        let Some((grant_id, owner)) = self
            .store
            .grant_of_token(&self.keys.hash_token(token))
            .await?
        else {
            return Ok(());
        };
        if client_id.is_none_or(|id| id == owner) {
            self.store.delete_grant(&grant_id).await?;
        }
        Ok(())
    }

    /// What an access token opens, if it is a live one; cached until the database changes.
    pub async fn access_grant(&self, raw: &str) -> Result<Option<AccessGrant>, StoreError> {
        let hash = self.keys.hash_token(raw);
        let grant = self
            .access_tokens
            .get_or_load(&hash, self.store.access_grant(&hash))
            .await?;
        Ok(grant.filter(|grant| grant.expires_at > now()))
    }
}

/// A client's name: the document's, else its host.
fn client_name(name: Option<String>, url: &reqwest::Url) -> String {
    name.filter(|n| !n.trim().is_empty() && !n.chars().any(char::is_control))
        .map(|n| n.chars().take(200).collect())
        .unwrap_or_else(|| url.host_str().unwrap_or("an unnamed client").to_owned())
}

/// A fetch failure without the URL (already named) or its internals.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
