//! The OAuth 2.1 authorization server every `oauth` MCP server signs in through, knowing no
//! transport: clients (Client ID Metadata Documents first, registration as the fallback),
//! authorization requests checked before consent, single-use codes bound to client, redirect
//! URI, PKCE challenge and resource, grants whose refresh tokens rotate, and access tokens
//! that open one MCP server for at most an hour. Errors are RFC 6749's.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use specgate_wire::oauth::{
    ApplicationType, has_invisible_characters, redirect_matches, usable_redirect,
};

use crate::crypto::{new_id, new_token};
use crate::state::AppState;
use crate::store::{
    AccessGrant, Account, ApiToken, IssuedToken, McpServer, NewCode, OAuthClient, StoreError,
    StoredRefresh, TokenScope, now,
};

/// Lifetimes, in seconds.
const CODE_SECS: i64 = 60;
const ACCESS_SECS: i64 = 3600;
const REFRESH_SECS: i64 = 30 * 86_400;
/// A registered client with no grant is removed after this.
const UNUSED_REGISTRATION_SECS: i64 = 86_400;
/// Registered clients without a grant the server keeps at most; registration waits beyond.
const MAX_UNUSED_REGISTRATIONS: i64 = 10_000;
/// Redirect URIs one client may name, and the length of each.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REDIRECT_URI_CHARS: usize = 2000;
/// Characters of a client's name.
const MAX_CLIENT_NAME_CHARS: usize = 200;
/// How long a rotated refresh token presented again gets the same next pair rather than
/// ending its grant: a client that lost the answer to its refresh, or sent it twice at once.
const REFRESH_GRACE_SECS: i64 = 30;
/// A client document is fetched again after this.
const DOCUMENT_SECS: i64 = 600;
/// The largest client document read.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The MCP transport paths below `/mcp/<token>` a resource may name.
pub const RESOURCE_SUFFIXES: [&str; 6] = [
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
    /// The server cannot take the request now (RFC 6749's `temporarily_unavailable`).
    #[error("{0}")]
    TemporarilyUnavailable(String),
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
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
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
    /// The transport below the MCP URL the resource names, as bound into the code.
    pub resource_suffix: &'static str,
    /// Tools the server exposes.
    pub tool_count: usize,
    /// Whether every tool it exposes only reads.
    pub read_only: bool,
    /// How many of its tools wait for the person's confirmation at each call.
    pub confirmed_tools: usize,
}

/// Why a sign-in on the consent page, or the consent after it, produced no code.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The request itself fails: shown on a specgate page, never redirected, since the
    /// redirect URI belongs to a client anyone may register (RFC 9700 section 4.11.2).
    #[error(transparent)]
    Request(#[from] OAuthError),
    /// The API token given does not sign in for this server; the page is shown again.
    #[error("{0}")]
    SignIn(&'static str),
}

/// A token request (RFC 6749 section 4.1.3 and 6), form-encoded.
#[derive(Clone, Default, Deserialize)]
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
#[derive(Clone, Serialize)]
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
    /// `web` (https redirect URIs only) or `native` (loopback or its own scheme only);
    /// without it, any usable redirect URI.
    #[serde(default)]
    pub application_type: Option<String>,
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
    /// As registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_type: Option<&'static str>,
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

    /// The MCP URL (the resource) of an MCP token and a transport suffix.
    pub fn resource_of(&self, mcp_token: &str, suffix: &str) -> Option<String> {
        Some(format!("{}/mcp/{mcp_token}{suffix}", self.issuer()?))
    }

    /// The `oauth` MCP server a resource URL names, and the transport suffix it names.
    pub async fn resource_server(
        &self,
        resource: &str,
    ) -> Result<(McpServer, Account, &'static str), OAuthError> {
        let not_ours = || {
            OAuthError::InvalidTarget(format!(
                "`{resource}` is not the URL of an MCP server that signs in with OAuth here"
            ))
        };
        let prefix = format!("{}/mcp/", self.issuer().ok_or_else(not_ours)?);
        let rest = resource.strip_prefix(&prefix).ok_or_else(not_ours)?;
        let (token, suffix) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
        let suffix = RESOURCE_SUFFIXES
            .into_iter()
            .find(|known| *known == suffix)
            .filter(|_| !token.is_empty())
            .ok_or_else(not_ours)?;
        let (server, account, _) = self
            .store
            .resolve_token(&self.keys.hash_token(token), now())
            .await?
            .ok_or_else(not_ours)?;
        if !server.config.oauth {
            return Err(not_ours());
        }
        Ok((server, account, suffix))
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
            return Err(unknown_client(client_id));
        }
        let client = self.fetch_client_document(client_id).await?;
        self.store.put_client(&client).await?;
        Ok(client)
    }

    /// The client a token request names, which must be known: registered, or a document
    /// client seen at consent. A document client with a live grant stays known after its
    /// document goes stale; its document is fetched again then, and kept as it was if the
    /// fetch fails, so a refresh never depends on the client's web host.
    pub async fn token_client(&self, client_id: &str) -> Result<OAuthClient, OAuthError> {
        let known = self
            .store
            .find_client(client_id)
            .await?
            .ok_or_else(|| unknown_client(client_id))?;
        if known.registered || known.expires_at > now() {
            return Ok(known);
        }
        match self.fetch_client_document(client_id).await {
            Ok(fresh) => {
                self.store.put_client(&fresh).await?;
                Ok(fresh)
            }
            Err(error) => {
                tracing::info!(%error, "a client document could not be fetched again; its grants keep working");
                Ok(known)
            }
        }
    }

    /// Fetches and checks a Client ID Metadata Document. The URL's own faults are named; what
    /// the fetch or the document is wrong with only goes to the log, so the consent page
    /// tells nobody what answers at a URL they chose.
    async fn fetch_client_document(&self, client_id: &str) -> Result<OAuthClient, OAuthError> {
        let url = document_url(client_id, self.config.allow_insecure_upstreams)?;
        match self.read_client_document(&url).await {
            Ok(client) => Ok(client),
            Err(reason) => {
                tracing::info!(client_id = %url, %reason, "client metadata document refused");
                Err(OAuthError::InvalidClient(format!(
                    "the client metadata document at {url} could not be fetched, or is not a usable document for this client"
                )))
            }
        }
    }

    async fn read_client_document(
        &self,
        url: &reqwest::Url,
    ) -> Result<OAuthClient, DocumentRefused> {
        let mut response = self
            .oauth_documents
            .get(url.clone())
            .send()
            .await
            .map_err(|e| DocumentRefused(format!("fetch failed ({})", describe(&e))))?;
        if !response.status().is_success() {
            return Err(DocumentRefused(format!(
                "answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DocumentRefused(format!("read failed ({})", describe(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(DocumentRefused(format!(
                    "larger than {MAX_DOCUMENT_BYTES} bytes"
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
            #[serde(default)]
            client_secret: Option<Value>,
            #[serde(default)]
            token_endpoint_auth_method: Option<String>,
            #[serde(default)]
            application_type: Option<String>,
        }
        let document: Document = serde_json::from_slice(&body)
            .map_err(|e| DocumentRefused(format!("not client metadata JSON: {e}")))?;
        if document.client_id != url.as_str() {
            return Err(DocumentRefused("names another client_id".to_owned()));
        }
        if document.client_secret.is_some()
            || document
                .token_endpoint_auth_method
                .as_deref()
                .is_some_and(|method| method != "none")
        {
            return Err(DocumentRefused(
                "declares a client secret or a secret-based authentication method".to_owned(),
            ));
        }
        check_redirect_uris(
            &document.redirect_uris,
            document.application_type.as_deref(),
        )
        .map_err(|e| DocumentRefused(e.to_string()))?;
        if document
            .client_name
            .as_deref()
            .is_some_and(has_invisible_characters)
        {
            return Err(DocumentRefused(
                "client_name holds invisible or control characters".to_owned(),
            ));
        }
        let at = now();
        Ok(OAuthClient {
            client_id: url.as_str().to_owned(),
            registered: false,
            name: client_name(document.client_name, url),
            redirect_uris: document.redirect_uris,
            created_at: at,
            expires_at: at + DOCUMENT_SECS,
        })
    }

    /// Registers a public client (RFC 7591), within the caps on what one registration may
    /// hold and on how many unused ones the server keeps.
    pub async fn register_client(
        &self,
        request: RegistrationRequest,
    ) -> Result<Registration, OAuthError> {
        let application_type =
            check_redirect_uris(&request.redirect_uris, request.application_type.as_deref())?;
        let name = match request.client_name {
            Some(name)
                if has_invisible_characters(&name)
                    || name.chars().count() > MAX_CLIENT_NAME_CHARS =>
            {
                return Err(OAuthError::InvalidClientMetadata(format!(
                    "client_name must be at most {MAX_CLIENT_NAME_CHARS} characters, without control, bidirectional or zero-width characters"
                )));
            }
            Some(name) if !name.trim().is_empty() => name,
            _ => "an unnamed client".to_owned(),
        };
        if self.store.unused_registrations().await? >= MAX_UNUSED_REGISTRATIONS {
            return Err(OAuthError::TemporarilyUnavailable(
                "too many clients are registered without having signed in; try again later"
                    .to_owned(),
            ));
        }
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
            application_type: application_type.map(ApplicationType::as_str),
        })
    }

    /// Checks an authorization request. Every failure is shown on a specgate page: none is
    /// redirected before a person has signed in, so a link to this server cannot send anyone
    /// on to a registered client's page unseen (RFC 9700 section 4.11.2).
    pub async fn check_authorization(
        &self,
        request: AuthorizationRequest,
    ) -> Result<Consent, OAuthError> {
        if request.client_id.is_empty() {
            return Err(OAuthError::InvalidRequest(
                "client_id is required".to_owned(),
            ));
        }
        let client = self.oauth_client(&request.client_id).await?;
        let registered = client
            .redirect_uris
            .iter()
            .any(|registered| redirect_matches(registered, &request.redirect_uri));
        if !registered {
            return Err(OAuthError::InvalidRequest(format!(
                "redirect_uri `{}` is not one client `{}` registered",
                crate::provision::printable(&request.redirect_uri),
                crate::provision::printable(&client.client_id)
            )));
        }
        if request.response_type != "code" {
            return Err(OAuthError::UnsupportedResponseType);
        }
        if request.code_challenge.is_empty()
            || request.code_challenge_method.as_deref() != Some("S256")
        {
            return Err(OAuthError::InvalidRequest(
                "PKCE is required: send code_challenge with code_challenge_method=S256 (plain is refused)".to_owned(),
            ));
        }
        let Some(resource) = request.resource.as_deref() else {
            return Err(OAuthError::InvalidTarget(
                "resource is required: send the MCP server's URL (RFC 8707)".to_owned(),
            ));
        };
        let (server, account, resource_suffix) = self.resource_server(resource).await?;
        let tools: Vec<_> = self
            .catalog
            .visible(&account.integration, &server.config)
            .collect();
        Ok(Consent {
            tool_count: tools.len(),
            read_only: tools.iter().all(|t| t.def.annotations.read_only),
            confirmed_tools: tools
                .iter()
                .filter(|t| server.config.confirm.applies(t.def))
                .count(),
            request,
            client,
            server,
            account,
            resource_suffix,
        })
    }

    /// The person's sign-in on the consent page: the checked request, and the API token,
    /// which must be live and may open the server. Only now does the page name the server
    /// and its account.
    pub async fn sign_in_to_consent(
        &self,
        request: AuthorizationRequest,
        api_token: &str,
    ) -> Result<(Consent, ApiToken), ConsentError> {
        let consent = self.check_authorization(request).await?;
        let token = self
            .api_token(api_token)
            .await
            .map_err(OAuthError::from)?
            .ok_or(ConsentError::SignIn("That is not a live API token."))?;
        check_may_open(&token, &consent)?;
        self.store
            .touch_api_token(&token.id, now())
            .await
            .map_err(OAuthError::from)?;
        Ok((consent, token))
    }

    /// The signed-in person allows the request: a code for the redirect URI. The API token
    /// that signed in is read again, so one revoked in between grants nothing.
    pub async fn consent(
        &self,
        request: AuthorizationRequest,
        api_token_id: &str,
    ) -> Result<(Consent, String), ConsentError> {
        let consent = self.check_authorization(request).await?;
        let token = self
            .store
            .api_token_by_id(api_token_id)
            .await
            .map_err(OAuthError::from)?
            .filter(ApiToken::live)
            .ok_or(ConsentError::SignIn(
                "The API token you signed in with was revoked or expired; sign in again.",
            ))?;
        check_may_open(&token, &consent)?;
        let code = new_token("sgo_").map_err(OAuthError::internal)?;
        self.store
            .create_code(&NewCode {
                code_hash: self.keys.hash_token(&code),
                server_id: consent.server.id.clone(),
                client_id: consent.client.client_id.clone(),
                api_token_id: token.id,
                resource_suffix: consent.resource_suffix.to_owned(),
                redirect_uri: consent.request.redirect_uri.clone(),
                code_challenge: consent.request.code_challenge.clone(),
                expires_at: now() + CODE_SECS,
            })
            .await
            .map_err(OAuthError::from)?;
        Ok((consent, code))
    }

    /// Answers a token request from a known client.
    pub async fn token(&self, request: TokenRequest) -> Result<TokenResponse, OAuthError> {
        if let Some(client_id) = request.client_id.as_deref().filter(|id| !id.is_empty()) {
            self.token_client(client_id).await?;
        }
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
        self.check_resource(request.resource.as_deref(), &issued.server_id)
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
        let client_id = request
            .client_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| OAuthError::InvalidRequest("client_id is required".to_owned()))?;
        let invalid = || {
            OAuthError::InvalidGrant(
                "the refresh token is unknown, expired or already used".to_owned(),
            )
        };
        let hash = self.keys.hash_token(&raw);
        let stored = self.store.find_refresh(&hash).await?.ok_or_else(invalid)?;
        if client_id != stored.client_id {
            return Err(OAuthError::InvalidGrant(
                "the refresh token was issued to another client".to_owned(),
            ));
        }
        if stored.used_at.is_some() {
            return self.refresh_again(&raw, &stored).await;
        }
        if stored.expires_at <= now() {
            return Err(invalid());
        }
        self.check_resource(request.resource.as_deref(), &stored.server_id)
            .await?;
        let (response, access, refresh) = self.new_tokens()?;
        let pair = serde_json::to_vec(&(&response.access_token, &response.refresh_token))
            .map_err(OAuthError::internal)?;
        let successor = self
            .keys
            .seal_for(&raw, &pair)
            .map_err(OAuthError::internal)?;
        if self
            .store
            .rotate_refresh(
                &hash,
                &stored.grant_id,
                (&access, &refresh),
                &successor,
                now(),
            )
            .await?
        {
            return Ok(response);
        }
        // Another refresh with this token won the race: this one is its retry.
        let stored = self.store.find_refresh(&hash).await?.ok_or_else(invalid)?;
        self.refresh_again(&raw, &stored).await
    }

    /// A rotated refresh token presented again. Within the grace, while the pair its rotation
    /// issued is still unused, the answer is that same pair: a client that lost the answer,
    /// or refreshed twice at once, keeps its grant. Otherwise someone holds a copy, and the
    /// grant ends.
    async fn refresh_again(
        &self,
        raw: &str,
        stored: &StoredRefresh,
    ) -> Result<TokenResponse, OAuthError> {
        let at = now();
        let within_grace = stored
            .used_at
            .is_some_and(|used_at| at - used_at <= REFRESH_GRACE_SECS);
        let successor = stored
            .successor_sealed
            .as_deref()
            .filter(|_| within_grace)
            .and_then(|sealed| self.keys.open_for(raw, sealed).ok())
            .and_then(|bytes| serde_json::from_slice::<(String, String)>(&bytes).ok());
        if let Some((access_token, refresh_token)) = successor {
            let next = self
                .store
                .find_refresh(&self.keys.hash_token(&refresh_token))
                .await?;
            if let Some(next) = next.filter(|next| next.used_at.is_none()) {
                // Both were issued at once: the access token expires its lifetime after that.
                let issued_at = next.expires_at - REFRESH_SECS;
                return Ok(TokenResponse {
                    access_token,
                    token_type: "Bearer",
                    expires_in: (issued_at + ACCESS_SECS - at).max(0),
                    refresh_token,
                });
            }
        }
        self.store.delete_grant(&stored.grant_id).await?;
        Err(OAuthError::InvalidGrant(
            "the refresh token is unknown, expired or already used".to_owned(),
        ))
    }

    /// A `resource` sent with a token request must name the server the grant is for.
    async fn check_resource(&self, sent: Option<&str>, server_id: &str) -> Result<(), OAuthError> {
        let Some(sent) = sent else {
            return Ok(());
        };
        let (sent_server, _, _) = self.resource_server(sent).await?;
        if sent_server.id == server_id {
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

/// A client document's fault, for the log only (see `AppState::fetch_client_document`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct DocumentRefused(String);

fn unknown_client(client_id: &str) -> OAuthError {
    OAuthError::InvalidClient(format!(
        "unknown client `{}`",
        crate::provision::printable(client_id)
    ))
}

/// A Client ID Metadata Document's URL, checked before anything is fetched: https (or
/// loopback http with insecure upstreams allowed), a path, no user info, fragment or dot
/// segments, written as the URL standard writes it, and an address the egress rules allow.
fn document_url(client_id: &str, allow_insecure: bool) -> Result<reqwest::Url, OAuthError> {
    let refused = |why: &str| {
        OAuthError::InvalidClient(format!(
            "client_id `{}` is not a usable client metadata document URL: {why}",
            crate::provision::printable(client_id)
        ))
    };
    let url = reqwest::Url::parse(client_id).map_err(|_| refused("it is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("it must not carry user info"));
    }
    if url.path() == "/" || url.fragment().is_some() {
        return Err(refused("it must have a path and no fragment"));
    }
    if url.as_str() != client_id {
        return Err(refused(
            "it must be in normal form, without dot segments (`.` or `..`)",
        ));
    }
    crate::egress::check_url(&url, allow_insecure)
        .map_err(|refusal| refused(&format!("its URL {refusal}")))?;
    Ok(url)
}

/// A client's redirect URIs: one to ten, each a usable redirect URI of at most 2,000
/// characters that suits its `application_type` if it declares one (returned, checked).
fn check_redirect_uris(
    uris: &[String],
    application_type: Option<&str>,
) -> Result<Option<ApplicationType>, OAuthError> {
    let kind = match application_type {
        None => None,
        Some(text) => Some(ApplicationType::parse(text).ok_or_else(|| {
            OAuthError::InvalidClientMetadata(
                "application_type must be `web` or `native`".to_owned(),
            )
        })?),
    };
    if let Some(kind) = kind
        && let Some(bad) = uris.iter().find(|uri| !kind.allows(uri))
    {
        return Err(OAuthError::InvalidRedirectUri(format!(
            "`{}` does not suit a {} client: {}",
            crate::provision::printable(&bad.chars().take(100).collect::<String>()),
            kind.as_str(),
            match kind {
                ApplicationType::Web => "web clients use https on a host other than a loopback one",
                ApplicationType::Native =>
                    "native clients use http to a loopback host, or their own scheme",
            }
        )));
    }
    check_usable_redirect_uris(uris).map(|()| kind)
}

/// One to ten redirect URIs, each usable and of at most 2,000 characters.
fn check_usable_redirect_uris(uris: &[String]) -> Result<(), OAuthError> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::InvalidRedirectUri(format!(
            "redirect_uris must name 1 to {MAX_REDIRECT_URIS} redirect URIs"
        )));
    }
    let unusable = uris
        .iter()
        .find(|u| u.chars().count() > MAX_REDIRECT_URI_CHARS || !usable_redirect(u));
    match unusable {
        Some(bad) => Err(OAuthError::InvalidRedirectUri(format!(
            "`{}` is not a usable redirect URI: use https, http to a loopback host, or an app's own reverse-DNS scheme (com.example.app:/callback), without a fragment, in at most {MAX_REDIRECT_URI_CHARS} characters",
            crate::provision::printable(&bad.chars().take(100).collect::<String>())
        ))),
        None => Ok(()),
    }
}

/// Whether an API token may open the server a consent is for: an admin token, or an `mcp`
/// token not bound to another account.
fn check_may_open(token: &ApiToken, consent: &Consent) -> Result<(), ConsentError> {
    let may_open = token.scope == TokenScope::Admin
        || token
            .account_id
            .as_ref()
            .is_none_or(|bound| *bound == consent.account.id);
    if may_open {
        Ok(())
    } else {
        Err(ConsentError::SignIn(
            "That API token is bound to another account's MCP servers.",
        ))
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
