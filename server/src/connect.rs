//! Connecting an account through the vendor's own OAuth consent (the authorization-code grant
//! with PKCE, RFC 6749 section 4.1 and RFC 7636), knowing no transport. An operator registers
//! one OAuth app per integration; a connection sends the account's owner to the vendor's
//! consent page with a single-use `state` and an S256 challenge, and the callback exchanges
//! the code with the verifier, authenticating as the vendor's token endpoint expects, then
//! creates the account (or reconnects one) with its tokens sealed. Connected accounts refresh
//! with the app's client credentials, never copies of them.
//!
//! A connection is bound to one browser: the URL handed out is specgate's start URL, which
//! sets a cookie with a nonce in the first browser that opens it and sends that browser on to
//! the vendor; the callback is taken only with that cookie. A reconnect must come back as the
//! vendor identity (subject or tenant) the account was first connected as, unless an operator
//! allowed another one when starting it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use specgate_runtime::{AuthKind, Integration, TokenAuth};

use crate::call::Credentials;
use crate::crypto::{new_id, new_token};
use crate::provision::{
    AccountView, Field, ProvisionError, Provisioner, Resource, account_view, check_name, printable,
    rfc3339,
};
use crate::state::AppState;
use crate::store::{Account, Connection, ConnectionOutcome, OAuthApp, StoreError, Taken, now};

/// How long a connection waits for its callback.
pub const CONNECTION_SECS: i64 = 600;

/// specgate's callback path; the vendor's OAuth app must list `<public URL>/oauth/callback`.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// The start URL's path before its token: what a connection hands out.
pub const START_PATH: &str = "/oauth/connect/";

/// `PUT /integrations/{name}/oauth-app`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetOAuthApp {
    /// The client id the vendor issued.
    pub client_id: String,
    /// The client secret (write-only: sealed, never shown again).
    pub client_secret: String,
    /// Consent page, for vendors with per-tenant hosts; the spec's by default.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// Token endpoint; the spec's by default.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Scopes a connection asks for when it names none.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An OAuth app as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OAuthAppView {
    /// The integration.
    pub integration: String,
    /// The client id.
    pub client_id: String,
    /// The consent page connections use (the override, or the spec's).
    pub authorize_url: String,
    /// The token endpoint codes and refreshes go to (the override, or the spec's).
    pub token_url: String,
    /// How specgate authenticates there: `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth: &'static str,
    /// Default scopes.
    pub scopes: Vec<String>,
    /// The callback URL to register at the vendor, when the public URL is known.
    pub redirect_uri: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /integrated-account/connect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// Integration slug.
    pub integration: String,
    /// The new account's name.
    pub name: String,
    /// Base URL override, as for accounts created with credentials.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Scopes to ask for; the app's by default.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Where the browser goes after the callback, on an allowed origin.
    #[serde(default)]
    pub return_to: Option<String>,
}

/// `POST /integrated-account/{id}/reconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconnect {
    /// Scopes to ask for; the app's by default.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Where the browser goes after the callback.
    #[serde(default)]
    pub return_to: Option<String>,
    /// Accept a vendor identity other than the one the account was first connected as (the
    /// account is to be moved to another vendor user or tenant).
    #[serde(default)]
    pub accept_other_identity: bool,
}

/// A connection sent on its way.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectStarted {
    /// Where to send the account's owner: specgate's start URL, which binds the connection
    /// to the browser that opens it first and sends it on to the vendor.
    pub authorize_url: String,
    /// RFC 3339: the callback is refused after this.
    pub expires_at: String,
    /// Identifies the connection to [`Provisioner::connection_outcome`] (the peppered hash of
    /// its `state`, which is not itself a secret).
    #[serde(skip)]
    pub handle: String,
}

/// What the vendor's redirect to the callback carries.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    /// The `state` specgate sent.
    #[serde(default)]
    pub state: Option<String>,
    /// The authorization code.
    #[serde(default)]
    pub code: Option<String>,
    /// An RFC 6749 error code (`access_denied`, ...).
    #[serde(default)]
    pub error: Option<String>,
    /// The vendor's words for it.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// A callback that created or reconnected an account.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The account.
    pub account: AccountView,
    /// The integration's title.
    pub vendor: &'static str,
    /// An existing account connected again, keeping its id and MCP servers.
    pub reconnected: bool,
    /// Where the browser goes now, if the connection named an allowed place.
    pub return_to: Option<String>,
}

/// Why a callback created nothing.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// No `state`, or one specgate never issued or already used (forged or replayed).
    #[error(
        "this sign-in link is not valid: it was used already, or it was not issued by this server. Start the connection again."
    )]
    UnknownState,
    /// The callback came to another browser than the one that opened the start URL.
    #[error(
        "this sign-in finished in another browser than the one that started it, so nothing was connected. Open the connection link and sign in at the vendor in the same browser."
    )]
    OtherBrowser,
    /// A reconnect came back as another vendor user or tenant than the account's.
    #[error(
        "{vendor} signed in as {came_back}, but this account was connected as {expected}; nothing changed, and the account's MCP servers still reach {expected}. Sign in at {vendor} as that account, or have an operator start a reconnect that accepts another identity (`accept_other_identity`)."
    )]
    OtherIdentity {
        /// The integration's title.
        vendor: &'static str,
        /// The identity stored at first connect.
        expected: String,
        /// The identity the vendor returned, or words saying it returned none.
        came_back: String,
    },
    /// The connection waited more than ten minutes.
    #[error("this sign-in link expired (connections wait {} minutes). Start the connection again.", CONNECTION_SECS / 60)]
    Expired,
    /// The vendor said no (`access_denied` when its user declined).
    #[error("{vendor} did not authorize the connection: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    VendorDenied {
        /// The integration's title.
        vendor: &'static str,
        /// The RFC 6749 error code (sanitized).
        error: String,
        /// The vendor's description (sanitized).
        description: Option<String>,
    },
    /// The redirect carried neither a code nor an error.
    #[error("the vendor's redirect carried no authorization code")]
    MissingCode,
    /// The token endpoint refused the code, failed, or answered something unusable.
    #[error("{vendor}'s token endpoint did not issue tokens: {reason}")]
    Exchange {
        /// The integration's title.
        vendor: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The app, the account or a host rule changed since the connection started.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl From<StoreError> for CallbackError {
    fn from(error: StoreError) -> Self {
        Self::Provision(ProvisionError::Store(error))
    }
}

/// The callback URL for a public URL.
pub fn redirect_uri(public_url: &str) -> String {
    format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'))
}

fn token_auth_name(auth: TokenAuth) -> &'static str {
    match auth {
        TokenAuth::ClientSecretBasic => "client_secret_basic",
        TokenAuth::ClientSecretPost => "client_secret_post",
    }
}

/// The OAuth 2 description of an integration that connects through consent.
fn oauth2(
    integration: &'static Integration,
) -> Result<(&'static str, &'static str, TokenAuth), ProvisionError> {
    match &integration.auth {
        AuthKind::OAuth2 {
            token_url,
            authorize_url,
            token_auth,
            ..
        } => Ok((authorize_url, token_url, *token_auth)),
        other => Err(ProvisionError::NotOAuth2 {
            integration: integration.name,
            auth: other.as_str(),
        }),
    }
}

/// Scope tokens are RFC 6749's: printable ASCII without spaces, quotes or backslashes.
fn check_scopes(scopes: &[String]) -> Result<(), ProvisionError> {
    for scope in scopes {
        let fine = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b == b'!' || (b'#'..=b'[').contains(&b) || (b']'..=b'~').contains(&b));
        if !fine {
            return Err(ProvisionError::InvalidOAuthValue {
                field: Field::Scopes,
                problem: format!(
                    "holds `{}`, which is not an OAuth scope (printable ASCII, no spaces, quotes or backslashes)",
                    printable(scope)
                ),
            });
        }
    }
    Ok(())
}

fn check_client_value(field: Field, value: &str) -> Result<(), ProvisionError> {
    if value.is_empty() || value.len() > 2048 || value.chars().any(char::is_control) {
        return Err(ProvisionError::InvalidOAuthValue {
            field,
            problem: "must be 1 to 2048 characters without control characters".to_owned(),
        });
    }
    Ok(())
}

/// The origin of an absolute http(s) URL, as `scheme://host[:port]`.
fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "https" | "http").then(|| parsed.origin().ascii_serialization())
}

impl Provisioner {
    fn public_redirect_uri(&self) -> Option<String> {
        self.state.config.public_url.as_deref().map(redirect_uri)
    }

    fn app_view(&self, integration: &'static Integration, app: OAuthApp) -> OAuthAppView {
        let (spec_authorize, spec_token, token_auth) =
            oauth2(integration).unwrap_or(("", "", TokenAuth::ClientSecretBasic));
        OAuthAppView {
            integration: app.integration,
            client_id: app.client_id,
            authorize_url: app
                .authorize_url
                .unwrap_or_else(|| spec_authorize.to_owned()),
            token_url: app.token_url.unwrap_or_else(|| spec_token.to_owned()),
            token_endpoint_auth: token_auth_name(token_auth),
            scopes: app.scopes,
            redirect_uri: self.public_redirect_uri(),
            created_at: rfc3339(app.created_at),
            updated_at: rfc3339(app.updated_at),
        }
    }

    /// Registers (or replaces) an integration's OAuth app. The secret is sealed and never
    /// shown again; URL overrides pass the same host rules as account base URLs.
    pub async fn set_oauth_app(
        &self,
        name: &str,
        request: SetOAuthApp,
    ) -> Result<OAuthAppView, ProvisionError> {
        let integration = self.integration(name)?;
        oauth2(integration)?;
        check_client_value(Field::ClientId, &request.client_id)?;
        check_client_value(Field::ClientSecret, &request.client_secret)?;
        check_scopes(&request.scopes)?;
        if let Some(url) = &request.authorize_url {
            self.check_upstream_url(integration, Field::AuthorizeUrl, url)
                .await?;
        }
        if let Some(url) = &request.token_url {
            self.check_upstream_url(integration, Field::AppTokenUrl, url)
                .await?;
        }
        let sealed = self
            .state
            .keys
            .seal(request.client_secret.as_bytes())
            .map_err(ProvisionError::internal)?;
        let at = now();
        let created_at = self
            .state
            .store
            .oauth_app(integration.name)
            .await?
            .map_or(at, |existing| existing.created_at);
        let app = OAuthApp {
            integration: integration.name.to_owned(),
            client_id: request.client_id,
            client_secret_sealed: sealed,
            authorize_url: request.authorize_url,
            token_url: request.token_url,
            scopes: request.scopes,
            created_at,
            updated_at: at,
        };
        self.state.store.put_oauth_app(&app).await?;
        Ok(self.app_view(integration, app))
    }

    /// An integration's OAuth app.
    pub async fn oauth_app(&self, name: &str) -> Result<OAuthAppView, ProvisionError> {
        let integration = self.integration(name)?;
        let app = self
            .state
            .store
            .oauth_app(integration.name)
            .await?
            .ok_or_else(|| ProvisionError::not_found(Resource::OAuthApp, name))?;
        Ok(self.app_view(integration, app))
    }

    /// Removes an integration's OAuth app. Accounts connected with it keep their tokens but
    /// cannot refresh them until an app is registered again.
    pub async fn remove_oauth_app(&self, name: &str) -> Result<(), ProvisionError> {
        let integration = self.integration(name)?;
        if self.state.store.remove_oauth_app(integration.name).await? {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::OAuthApp, name))
        }
    }

    /// Allows an origin for `return_to`.
    pub async fn allow_return_origin(&self, origin: &str) -> Result<String, ProvisionError> {
        let normalized = origin_of(origin)
            .filter(|o| o == origin.trim_end_matches('/'))
            .ok_or_else(|| ProvisionError::InvalidOAuthValue {
                field: Field::Origin,
                problem: format!(
                    "`{}` is not an origin (scheme, host and port only, e.g. https://app.example.com)",
                    printable(origin)
                ),
            })?;
        self.state.store.allow_return_origin(&normalized).await?;
        Ok(normalized)
    }

    /// Removes an allowed origin.
    pub async fn remove_return_origin(&self, origin: &str) -> Result<(), ProvisionError> {
        if self
            .state
            .store
            .remove_return_origin(origin.trim_end_matches('/'))
            .await?
        {
            Ok(())
        } else {
            Err(ProvisionError::not_found(Resource::ReturnOrigin, origin))
        }
    }

    /// The allowed origins.
    pub async fn return_origins(&self) -> Result<Vec<String>, ProvisionError> {
        Ok(self.state.store.return_origins().await?)
    }

    async fn check_return_to(&self, return_to: Option<&str>) -> Result<(), ProvisionError> {
        let Some(return_to) = return_to else {
            return Ok(());
        };
        let origin = origin_of(return_to).ok_or_else(|| ProvisionError::InvalidOAuthValue {
            field: Field::ReturnTo,
            problem: "must be an absolute http(s) URL".to_owned(),
        })?;
        let allowed = self.state.store.return_origins().await?;
        if allowed.contains(&origin) {
            Ok(())
        } else {
            Err(ProvisionError::ReturnToNotAllowed { origin, allowed })
        }
    }

    /// Starts connecting a new account: the URL of the vendor's consent page.
    pub async fn connect(&self, request: Connect) -> Result<ConnectStarted, ProvisionError> {
        let integration = self.integration(&request.integration)?;
        check_name(&request.name)?;
        self.check_base_url(integration, request.base_url.as_deref())
            .await?;
        self.start(
            integration,
            request.name,
            request.base_url,
            None,
            request.scopes,
            request.return_to,
        )
        .await
    }

    /// Starts connecting an existing account again; the callback keeps its id and servers.
    pub async fn reconnect(
        &self,
        account_id: &str,
        request: Reconnect,
    ) -> Result<ConnectStarted, ProvisionError> {
        let account = self.account(account_id).await?;
        let integration = self.integration(&account.integration)?;
        self.start(
            integration,
            account.name,
            account.base_url,
            Some((account.id, request.accept_other_identity)),
            request.scopes,
            request.return_to,
        )
        .await
    }

    async fn start(
        &self,
        integration: &'static Integration,
        name: String,
        base_url: Option<String>,
        reconnect: Option<(String, bool)>,
        scopes: Option<Vec<String>>,
        return_to: Option<String>,
    ) -> Result<ConnectStarted, ProvisionError> {
        let (spec_authorize, _, _) = oauth2(integration)?;
        let redirect_uri = self
            .public_redirect_uri()
            .ok_or(ProvisionError::PublicUrlUnknown)?;
        let app = self
            .state
            .store
            .oauth_app(integration.name)
            .await?
            .ok_or_else(|| ProvisionError::OAuthAppMissing {
                integration: integration.name,
                redirect_uri: redirect_uri.clone(),
            })?;
        let authorize = match &app.authorize_url {
            // Checked again: an operator may have removed the host since.
            Some(url) => {
                self.check_upstream_url(integration, Field::AuthorizeUrl, url)
                    .await?;
                url.clone()
            }
            None if spec_authorize.is_empty() => {
                return Err(ProvisionError::AuthorizeUrlMissing {
                    integration: integration.name,
                });
            }
            None => spec_authorize.to_owned(),
        };
        let scopes = scopes.unwrap_or_else(|| app.scopes.clone());
        check_scopes(&scopes)?;
        self.check_return_to(return_to.as_deref()).await?;
        let state = new_token("").map_err(ProvisionError::internal)?;
        let verifier = new_token("").map_err(ProvisionError::internal)?;
        let start_token = new_token("").map_err(ProvisionError::internal)?;
        let mut url = reqwest::Url::parse(&authorize).map_err(|e| ProvisionError::NotAUrl {
            field: Field::AuthorizeUrl,
            reason: e.to_string(),
        })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &app.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &crate::grants::pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            if !scopes.is_empty() {
                query.append_pair("scope", &scopes.join(" "));
            }
        }
        let keys = &self.state.keys;
        let seal = |text: &str| keys.seal(text.as_bytes()).map_err(ProvisionError::internal);
        let at = now();
        let (reconnect_account_id, accept_other_identity) = reconnect.unzip();
        let connection = Connection {
            state_hash: keys.hash_token(&state),
            integration: integration.name.to_owned(),
            name,
            base_url,
            reconnect_account_id,
            return_to,
            redirect_uri: redirect_uri.clone(),
            verifier_sealed: seal(&verifier)?,
            start_hash: Some(keys.hash_token(&start_token)),
            authorize_sealed: Some(seal(url.as_str())?),
            browser_hash: None,
            accept_other_identity: accept_other_identity.unwrap_or(false),
            created_at: at,
            expires_at: at + CONNECTION_SECS,
        };
        self.state.store.insert_connection(&connection).await?;
        let public = self
            .state
            .config
            .public_url
            .as_deref()
            .ok_or(ProvisionError::PublicUrlUnknown)?;
        Ok(ConnectStarted {
            authorize_url: format!("{}{START_PATH}{start_token}", public.trim_end_matches('/')),
            expires_at: rfc3339(connection.expires_at),
            handle: connection.state_hash,
        })
    }

    /// What became of a connection started here (`handle` from [`ConnectStarted`]).
    pub async fn connection_outcome(
        &self,
        handle: &str,
    ) -> Result<ConnectionOutcome, ProvisionError> {
        Ok(self.state.store.connection_outcome(handle).await?)
    }
}

/// Sanitizes text a vendor put in a redirect before it is shown: printable, at most 200
/// characters.
fn shown(text: &str) -> String {
    printable(&text.chars().take(200).collect::<String>())
}

/// A callback that created nothing, and where its connection wanted the browser to go.
#[derive(Debug)]
pub struct CallbackFailure {
    /// Why.
    pub error: CallbackError,
    /// The connection's `return_to`, when the `state` named a connection that had one.
    pub return_to: Option<String>,
}

/// The cookie that binds a connection to a browser. Named per connection (by the start of
/// its `state` hash, which is no secret), so two connections in one browser never overwrite
/// each other's; `__Host-` and `Secure` when the public URL is https.
pub fn browser_cookie_name(state: &AppState, state_hash: &str) -> String {
    let id = state_hash.get(..16).unwrap_or(state_hash);
    if browser_cookie_secure(state) {
        format!("__Host-specgate-connect-{id}")
    } else {
        format!("specgate-connect-{id}")
    }
}

/// Whether the binding cookie is `Secure`: browsers keep such cookies only from https.
pub fn browser_cookie_secure(state: &AppState) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
}

/// A start URL opened: where the browser goes, and the cookie to set when it is the first
/// browser to open it.
#[derive(Debug)]
pub struct StartOpened {
    /// The vendor's consent page.
    pub vendor_url: String,
    /// The binding cookie's name and nonce, for the first browser only.
    pub cookie: Option<(String, String)>,
    /// Seconds the connection waits still: the cookie's lifetime.
    pub max_age: i64,
}

/// Why a start URL sends nobody on.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Never issued, or the connection finished.
    #[error(
        "this connection link is not valid: it was used already, or it was not issued by this server. Ask for a new link."
    )]
    Unknown,
    /// The connection waited too long.
    #[error("this connection link expired (connections wait {} minutes). Ask for a new link.", CONNECTION_SECS / 60)]
    Expired,
    /// Another browser opened it first.
    #[error(
        "this connection link was opened in another browser first, and only that browser can finish it. Ask for a new link."
    )]
    OtherBrowser,
    /// The store or the key failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl From<StoreError> for StartError {
    fn from(error: StoreError) -> Self {
        Self::Provision(ProvisionError::Store(error))
    }
}

/// Opens a connection's start URL: binds the connection to this browser if none opened it
/// yet, and sends it to the vendor's consent; the bound browser may open it again.
/// `cookie` reads the request's cookies by name.
pub async fn open_start(
    state: &AppState,
    start_token: &str,
    cookie: impl Fn(&str) -> Option<String>,
) -> Result<StartOpened, StartError> {
    let start_hash = state.keys.hash_token(start_token);
    let connection = state
        .store
        .waiting_connection(&start_hash)
        .await?
        .ok_or(StartError::Unknown)?;
    let max_age = connection.expires_at - now();
    if max_age <= 0 {
        return Err(StartError::Expired);
    }
    let sealed = connection
        .authorize_sealed
        .as_deref()
        .ok_or(StartError::Unknown)?;
    let vendor_url = state
        .keys
        .open(sealed)
        .map_err(ProvisionError::internal)
        .and_then(|bytes| String::from_utf8(bytes).map_err(ProvisionError::internal))?;
    let name = browser_cookie_name(state, &connection.state_hash);
    if let Some(bound) = &connection.browser_hash {
        let same = cookie(&name).is_some_and(|nonce| state.keys.hash_token(&nonce) == *bound);
        return if same {
            Ok(StartOpened {
                vendor_url,
                cookie: None,
                max_age,
            })
        } else {
            Err(StartError::OtherBrowser)
        };
    }
    let nonce = new_token("").map_err(ProvisionError::internal)?;
    if !state
        .store
        .bind_browser(&start_hash, &state.keys.hash_token(&nonce))
        .await?
    {
        return Err(StartError::OtherBrowser);
    }
    Ok(StartOpened {
        vendor_url,
        cookie: Some((name, nonce)),
        max_age,
    })
}

/// Handles the vendor's redirect: checks `state` and the browser's binding cookie (read by
/// `cookie`), exchanges the code with the verifier, and creates or reconnects the account. A
/// forged, replayed or expired `state`, another browser, a vendor error or another vendor
/// identity creates nothing; the outcome is kept for whoever started the connection.
pub async fn complete(
    state: &AppState,
    params: CallbackParams,
    cookie: impl Fn(&str) -> Option<String>,
) -> Result<Connected, CallbackFailure> {
    let failure = |error: CallbackError| CallbackFailure {
        error,
        return_to: None,
    };
    let taken = match params.state.as_deref() {
        Some(raw) if !raw.is_empty() => {
            let state_hash = state.keys.hash_token(raw);
            let browser = cookie(&browser_cookie_name(state, &state_hash))
                .map(|nonce| state.keys.hash_token(&nonce));
            state
                .store
                .take_connection(&state_hash, browser.as_deref())
                .await
                .map_err(|e| failure(e.into()))?
        }
        _ => Taken::Nothing,
    };
    // Without a connection of ours, nothing in the redirect is shown: its `error` and
    // `error_description` would be anyone's words on specgate's page.
    let connection = match taken {
        Taken::Connection(connection) => *connection,
        Taken::OtherBrowser => return Err(failure(CallbackError::OtherBrowser)),
        Taken::Nothing => return Err(failure(CallbackError::UnknownState)),
    };
    let outcome = finish(state, &connection, params).await;
    let recorded = match &outcome {
        Ok(connected) => ConnectionOutcome::Connected(connected.account.id.clone()),
        Err(error) => ConnectionOutcome::Failed(error.to_string()),
    };
    state
        .store
        .finish_connection(&connection.state_hash, &recorded)
        .await
        .map_err(|e| failure(e.into()))?;
    outcome.map_err(|error| CallbackFailure {
        error,
        return_to: connection.return_to.clone(),
    })
}

async fn finish(
    state: &AppState,
    connection: &Connection,
    params: CallbackParams,
) -> Result<Connected, CallbackError> {
    let provisioner = Provisioner::new(state.clone());
    let integration = provisioner.integration(&connection.integration)?;
    if let Some(error) = params.error {
        return Err(CallbackError::VendorDenied {
            vendor: integration.title,
            error: shown(&error),
            description: params.error_description.as_deref().map(shown),
        });
    }
    if connection.expires_at <= now() {
        return Err(CallbackError::Expired);
    }
    let code = params
        .code
        .filter(|c| !c.is_empty())
        .ok_or(CallbackError::MissingCode)?;
    let verifier = state
        .keys
        .open(&connection.verifier_sealed)
        .map_err(ProvisionError::internal)?;
    let verifier = String::from_utf8(verifier).map_err(ProvisionError::internal)?;
    let app = state
        .store
        .oauth_app(integration.name)
        .await?
        .ok_or_else(|| ProvisionError::OAuthAppMissing {
            integration: integration.name,
            redirect_uri: connection.redirect_uri.clone(),
        })?;
    let token_url = app_token_url(&provisioner, integration, &app).await?;
    let secret = state
        .keys
        .open(&app.client_secret_sealed)
        .map_err(ProvisionError::internal)?;
    let secret = String::from_utf8(secret).map_err(ProvisionError::internal)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", connection.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (_, _, token_auth) = oauth2(integration)?;
    let request = crate::call::client_authenticated(
        state.oauth_documents.post(&token_url),
        token_auth,
        &app.client_id,
        &secret,
        &form,
    );
    let (tokens, identity) = exchange(request, integration.title).await?;
    let sealed = provisioner.seal(&tokens)?;
    let account = match &connection.reconnect_account_id {
        Some(id) => {
            let expected = state.store.vendor_identity(id).await?;
            if let Some(expected) = expected
                && !connection.accept_other_identity
                && identity.as_deref() != Some(expected.as_str())
            {
                return Err(CallbackError::OtherIdentity {
                    vendor: integration.title,
                    expected,
                    came_back: identity.unwrap_or_else(|| "an identity it did not name".to_owned()),
                });
            }
            // The account may have been deleted while its owner was at the vendor.
            if !state
                .store
                .reconnect_account(id, &sealed, identity.as_deref())
                .await?
            {
                return Err(ProvisionError::not_found(Resource::Account, id).into());
            }
            provisioner.account(id).await?
        }
        None => {
            let at = now();
            let account = Account {
                id: new_id().map_err(ProvisionError::internal)?,
                integration: integration.name.to_owned(),
                name: connection.name.clone(),
                base_url: connection.base_url.clone(),
                created_at: at,
                updated_at: at,
                needs_reconnect: false,
            };
            state.store.create_account(&account, &sealed).await?;
            if let Some(identity) = &identity {
                state
                    .store
                    .set_vendor_identity(&account.id, identity)
                    .await?;
            }
            account
        }
    };
    Ok(Connected {
        account: account_view(account),
        vendor: integration.title,
        reconnected: connection.reconnect_account_id.is_some(),
        return_to: connection.return_to.clone(),
    })
}

/// The token endpoint an app's codes and refreshes go to: its override (checked against the
/// host rules again), or the spec's.
pub(crate) async fn app_token_url(
    provisioner: &Provisioner,
    integration: &'static Integration,
    app: &OAuthApp,
) -> Result<String, ProvisionError> {
    let (_, spec_token, _) = oauth2(integration)?;
    match &app.token_url {
        Some(url) => {
            provisioner
                .check_upstream_url(integration, Field::AppTokenUrl, url)
                .await?;
            Ok(url.clone())
        }
        None => Ok(spec_token.to_owned()),
    }
}

/// Token-response members that name the vendor tenant or user a token acts for, tenants
/// first (Slack's `team.id`, QuickBooks' `realmId`, Xero-style `tenant_id`, ...).
const IDENTITY_MEMBERS: [&str; 10] = [
    "/tenant_id",
    "/tenantId",
    "/organization_id",
    "/org_id",
    "/workspace_id",
    "/team/id",
    "/realmId",
    "/company_id",
    "/account_id",
    "/user_id",
];

/// The vendor identity a token response names: an OpenID `id_token`'s subject and issuer
/// (read without checking its signature, which RFC 6749's direct TLS answer from the token
/// endpoint makes unnecessary, OpenID Connect Core section 3.1.3.7), else the first of
/// [`IDENTITY_MEMBERS`] present, as `member value`.
fn vendor_identity(body: &Value) -> Option<String> {
    use base64::Engine as _;
    let claims = body
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(|jwt| jwt.split('.').nth(1))
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok());
    if let Some(claims) = claims
        && let Some(subject) = claims.get("sub").and_then(Value::as_str)
    {
        let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or("?");
        return Some(format!("subject {} of {}", shown(subject), shown(issuer)));
    }
    IDENTITY_MEMBERS.iter().find_map(|pointer| {
        let value = match body.pointer(pointer)? {
            Value::String(text) if !text.is_empty() => shown(text),
            Value::Number(number) => number.to_string(),
            _ => return None,
        };
        Some(format!("{} {value}", pointer[1..].replace('/', ".")))
    })
}

/// Sends a token request and reads the tokens (RFC 6749 section 5.1) and the vendor identity
/// they act for, or the vendor's reason.
async fn exchange(
    request: reqwest::RequestBuilder,
    vendor: &'static str,
) -> Result<(Credentials, Option<String>), CallbackError> {
    let failed = |reason: String| CallbackError::Exchange { vendor, reason };
    let response = request
        .send()
        .await
        .map_err(|e| failed(crate::call::transport_error(&e).to_string()))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| failed(format!("its answer is not JSON ({e})")))?;
    let answer = crate::call::TokenAnswer::read(&body);
    if !status.is_success() {
        let said = answer
            .refusal()
            .map_or_else(String::new, |s| format!(": {}", shown(s)));
        return Err(failed(format!("HTTP {}{said}", status.as_u16())));
    }
    let access_token = answer
        .access_token
        .ok_or_else(|| failed("its answer has no access_token".to_owned()))?;
    let credentials = Credentials {
        access_token: Some(access_token),
        refresh_token: answer.refresh_token,
        expires_at: answer.expires_at,
        ..Credentials::default()
    };
    Ok((credentials, vendor_identity(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_response_names_its_vendor_identity() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"iss":"https://login.vendor.example","sub":"u-42"}"#);
        let oidc = serde_json::json!({"access_token": "a", "id_token": format!("e30.{payload}.sig"), "org_id": "ignored"});
        assert_eq!(
            vendor_identity(&oidc).as_deref(),
            Some("subject u-42 of https://login.vendor.example")
        );
        let slack =
            serde_json::json!({"access_token": "a", "team": {"id": "T123"}, "user_id": "U1"});
        assert_eq!(vendor_identity(&slack).as_deref(), Some("team.id T123"));
        let numeric = serde_json::json!({"access_token": "a", "company_id": 7});
        assert_eq!(vendor_identity(&numeric).as_deref(), Some("company_id 7"));
        assert_eq!(
            vendor_identity(&serde_json::json!({"access_token": "a"})),
            None
        );
    }

    #[test]
    fn scopes_and_origins_are_checked() {
        assert!(check_scopes(&["offline_access".into(), "read:orders".into()]).is_ok());
        for bad in ["", "two words", "quo\"te", "back\\slash"] {
            assert!(check_scopes(&[bad.to_owned()]).is_err(), "{bad}");
        }
        assert_eq!(
            origin_of("https://app.example.com/done?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("/relative"), None);
    }
}
