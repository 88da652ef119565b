//! Vendor credentials: their sealed form, the rules for which fields an auth kind takes, and
//! opening them for a call, refreshing OAuth tokens (single flight across the cluster) first
//! when they are due.

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use specgate_runtime::{AuthKind, Integration, TokenAuth};

use super::{CallError, Caller, dispatch};
use crate::store::{Account, now};

/// What one resolution of an MCP token keeps for the vendor calls it serves, so calls served
/// from a cached resolution do the work once: the account's sealed credentials and the
/// operator-allowed hosts of its integration as read with the token (`None` where the
/// resolution outlives changes, as in stdio, so each call reads them), the credentials opened
/// on first use, the parsed base URL and whether its host is allowed. Never printed.
#[derive(Clone, Default)]
pub struct Upstream {
    sealed: Option<String>,
    pub(super) operator_hosts: Option<Arc<[String]>>,
    opened: OnceLock<Arc<Credentials>>,
    pub(super) base_url: OnceLock<reqwest::Url>,
    pub(super) base_url_allowed: OnceLock<Result<(), CallError>>,
}

impl Upstream {
    /// What a resolution read: the sealed credentials and the operator-allowed hosts.
    pub fn new(sealed: Option<String>, operator_hosts: Option<Vec<String>>) -> Self {
        Self {
            sealed,
            operator_hosts: operator_hosts.map(Arc::from),
            ..Self::default()
        }
    }

    /// The credentials read with the token, opened with `open` on first use; `None` when
    /// none were read with it.
    fn opened(
        &self,
        open: impl FnOnce(&str) -> Result<Credentials, CallError>,
    ) -> Option<Result<Arc<Credentials>, CallError>> {
        let sealed = self.sealed.as_deref()?;
        if let Some(opened) = self.opened.get() {
            return Some(Ok(opened.clone()));
        }
        Some(open(sealed).map(|opened| self.opened.get_or_init(|| Arc::new(opened)).clone()))
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream(..)")
    }
}

/// Vendor credentials, sealed at rest. Which fields apply depends on the integration's auth.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Bearer, header or query key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Basic auth user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic auth password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// OAuth client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// OAuth access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// OAuth refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Token endpoint override (e.g. a sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Extra token-request fields (Rose Rocket's `org_id`, `user_id`, `audience`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub token_params: Map<String, Value>,
}

/// Why credentials do not fit an integration's auth kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsMismatch {
    /// Fields the auth kind does not use (refused, never silently stored).
    #[error("`{auth}` auth does not use {}; it takes {}", quoted(stray), if applicable.is_empty() { "no credentials".to_owned() } else { quoted(applicable) })]
    Stray {
        /// The auth kind.
        auth: &'static str,
        /// The fields sent that it does not use.
        stray: Vec<&'static str>,
        /// The fields it takes.
        applicable: &'static [&'static str],
    },
    /// Fields the auth kind needs that are missing or empty.
    #[error("`{auth}` auth needs {needs}")]
    Missing {
        /// The auth kind.
        auth: &'static str,
        /// What it needs, in words.
        needs: &'static str,
    },
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the fields that are set, never their values, so a `{:?}` anywhere (a request that
/// holds credentials, a log line) prints no secret.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("present", &self.present_fields())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The fields that are set, by name.
    pub fn present_fields(&self) -> Vec<&'static str> {
        let strings = [
            ("api_key", &self.api_key),
            ("username", &self.username),
            ("password", &self.password),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("access_token", &self.access_token),
            ("refresh_token", &self.refresh_token),
            ("token_url", &self.token_url),
        ];
        let mut present: Vec<&'static str> = strings
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| *name)
            .collect();
        if self.expires_at.is_some() {
            present.push("expires_at");
        }
        if !self.token_params.is_empty() {
            present.push("token_params");
        }
        present
    }

    /// Checks that the credentials fit the auth kind: what is missing, or which fields do
    /// not apply.
    pub fn validate(&self, auth: &AuthKind) -> Result<(), CredentialsMismatch> {
        let applicable: &'static [&'static str] = match auth {
            AuthKind::None => &[],
            AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. } => &["api_key"],
            AuthKind::Basic => &["username", "password"],
            AuthKind::OAuth2 { .. } => &[
                "client_id",
                "client_secret",
                "access_token",
                "refresh_token",
                "expires_at",
                "token_url",
                "token_params",
            ],
        };
        let stray: Vec<&'static str> = self
            .present_fields()
            .into_iter()
            .filter(|f| !applicable.contains(f))
            .collect();
        if !stray.is_empty() {
            return Err(CredentialsMismatch::Stray {
                auth: auth.as_str(),
                stray,
                applicable,
            });
        }
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        let missing = |needs| {
            Err(CredentialsMismatch::Missing {
                auth: auth.as_str(),
                needs,
            })
        };
        match auth {
            AuthKind::None => Ok(()),
            AuthKind::Bearer | AuthKind::Header { .. } | AuthKind::Query { .. } => {
                if has(&self.api_key) {
                    Ok(())
                } else {
                    missing("`api_key`")
                }
            }
            AuthKind::Basic if has(&self.username) && self.password.is_some() => Ok(()),
            AuthKind::Basic => missing("`username` and `password`"),
            AuthKind::OAuth2 { .. } => {
                let can_refresh = has(&self.client_id) && has(&self.client_secret);
                if has(&self.access_token) || can_refresh {
                    Ok(())
                } else {
                    missing(
                        "`access_token`, or `client_id` and `client_secret` (with `refresh_token` for the refresh grant)",
                    )
                }
            }
        }
    }
}

/// Refresh when there is no access token, or it expires within a minute.
fn needs_refresh(credentials: &Credentials) -> bool {
    let can_refresh = credentials.client_id.is_some() || credentials.refresh_token.is_some();
    can_refresh
        && (credentials.access_token.is_none()
            || credentials.expires_at.is_some_and(|at| at - 60 <= now()))
}

fn unavailable(message: impl Into<String>) -> CallError {
    CallError::CredentialsUnavailable(message.into())
}

fn refused(message: impl Into<String>) -> CallError {
    CallError::RefreshRefused(message.into())
}

/// The OAuth app's client, as a refresh authenticates with it.
struct AppClient {
    id: String,
    secret: String,
    auth: specgate_runtime::TokenAuth,
}

/// Why a refresh gave no token.
enum Refusal {
    /// The token endpoint refused the grant itself (`invalid_grant`).
    GrantRefused(String),
    /// Anything else: transport, another error, an unusable answer.
    Failed(String),
}

impl Caller {
    /// Opens the account's credentials, refreshing OAuth tokens first when they are due.
    /// `rejected` is an access token the vendor just refused; it forces a refresh unless
    /// another call already replaced it.
    pub(super) async fn credentials(
        &self,
        account: &Account,
        integration: &Integration,
        rejected: Option<&str>,
        prefetched: Option<&Upstream>,
    ) -> Result<Arc<Credentials>, CallError> {
        let opened = prefetched.and_then(|upstream| upstream.opened(|s| self.open_credentials(s)));
        let current = match opened {
            Some(opened) => opened?,
            None => Arc::new(self.load_credentials(&account.id).await?),
        };
        let AuthKind::OAuth2 {
            token_url,
            token_auth,
            ..
        } = integration.auth
        else {
            return Ok(current);
        };
        let due = |c: &Credentials| {
            needs_refresh(c)
                || rejected.is_some_and(|r| c.access_token.as_deref().unwrap_or_default() == r)
        };
        if !due(&current) {
            return Ok(current);
        }
        // Single flight per account: one refresh at a time in this process, and through the
        // database's lock in the whole cluster. The others wait, then re-read what the winner
        // stored.
        let lock = {
            let mut locks = self
                .refresh_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            locks.entry(account.id.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        let (held, sealed) = self
            .store
            .lock_credentials(&account.id)
            .await
            .map_err(|e| unavailable(format!("Could not load credentials: {e}")))?;
        let sealed =
            sealed.ok_or_else(|| unavailable("The integrated account no longer exists."))?;
        let current = self.open_credentials(&sealed)?;
        if !due(&current) {
            return Ok(Arc::new(current));
        }
        // An account connected through consent has no client of its own: it refreshes with its
        // integration's OAuth app, so rotating the app's secret reaches every such account.
        let app = match current.client_id {
            Some(_) => None,
            None => self
                .store
                .oauth_app(integration.name)
                .await
                .map_err(|e| unavailable(format!("Could not load the OAuth app: {e}")))?,
        };
        let client = match &app {
            Some(app) => Some(AppClient {
                id: app.client_id.clone(),
                secret: String::from_utf8(
                    self.keys
                        .open(&app.client_secret_sealed)
                        .map_err(|e| unavailable(e.to_string()))?,
                )
                .map_err(|e| unavailable(e.to_string()))?,
                auth: token_auth,
            }),
            None => None,
        };
        let refresh_url = current
            .token_url
            .as_deref()
            .or_else(|| app.as_ref().and_then(|a| a.token_url.as_deref()));
        if let Some(own_token_url) = refresh_url {
            let parsed = reqwest::Url::parse(own_token_url)
                .map_err(|e| refused(format!("Invalid token URL: {e}")))?;
            let operator_hosts = self.operator_hosts(integration).await?;
            dispatch::still_allowed(integration, &operator_hosts, &parsed, account, "token URL")?;
        }
        let refreshed = match self
            .refresh(&current, refresh_url.unwrap_or(token_url), client.as_ref())
            .await
        {
            Err(Refusal::GrantRefused(message)) if current.refresh_token.is_some() => {
                // The lock is a write transaction: on SQLite the mark would wait for it.
                drop(held);
                self.store
                    .mark_needs_reconnect(&account.id)
                    .await
                    .map_err(|e| unavailable(format!("Could not mark the account: {e}")))?;
                let console = self
                    .public_url
                    .as_deref()
                    .map(|base| {
                        format!(
                            " in the console ({}/console/accounts/{})",
                            base.trim_end_matches('/'),
                            account.id
                        )
                    })
                    .unwrap_or_default();
                return Err(CallError::NeedsReconnect(format!(
                    "{message}. The account must be connected again: an operator reconnects it{console} or with POST /integrated-account/{}/reconnect; MCP 2026-07-28 clients that declare URL elicitation are sent to connect it themselves.",
                    account.id
                )));
            }
            Err(Refusal::GrantRefused(message) | Refusal::Failed(message)) => {
                return Err(refused(message));
            }
            Ok(refreshed) => refreshed,
        };
        let plain =
            serde_json::to_vec(&refreshed).map_err(|e| CallError::Internal(e.to_string()))?;
        let sealed = self
            .keys
            .seal(&plain)
            .map_err(|e| CallError::Internal(e.to_string()))?;
        // Durable before use: a rotated refresh token must never be lost.
        held.replace(&sealed)
            .await
            .map_err(|e| refused(format!("Could not store refreshed credentials: {e}")))?;
        Ok(Arc::new(refreshed))
    }

    async fn load_credentials(&self, account_id: &str) -> Result<Credentials, CallError> {
        let sealed = self
            .store
            .sealed_credentials(account_id)
            .await
            .map_err(|e| unavailable(format!("Could not load credentials: {e}")))?
            .ok_or_else(|| unavailable("The integrated account no longer exists."))?;
        self.open_credentials(&sealed)
    }

    fn open_credentials(&self, sealed: &str) -> Result<Credentials, CallError> {
        let bytes = self
            .keys
            .open(sealed)
            .map_err(|e| unavailable(e.to_string()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| unavailable(format!("Stored credentials are unreadable: {e}")))
    }

    /// Asks the token endpoint for a new access token: the refresh grant when there is a
    /// refresh token, else client credentials. `app` is the integration's OAuth app, for
    /// accounts without a client of their own; it authenticates as the vendor expects.
    async fn refresh(
        &self,
        current: &Credentials,
        token_url: &str,
        app: Option<&AppClient>,
    ) -> Result<Credentials, Refusal> {
        let mut form: Vec<(String, String)> = Vec::new();
        match &current.refresh_token {
            Some(refresh) => {
                form.push(("grant_type".into(), "refresh_token".into()));
                form.push(("refresh_token".into(), refresh.clone()));
            }
            None => form.push(("grant_type".into(), "client_credentials".into())),
        }
        for (key, value) in [
            ("client_id", &current.client_id),
            ("client_secret", &current.client_secret),
        ] {
            if let Some(value) = value {
                form.push((key.into(), value.clone()));
            }
        }
        for (key, value) in &current.token_params {
            form.push((
                key.clone(),
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned),
            ));
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let request = match app {
            Some(app) => client_authenticated(
                self.http().post(token_url),
                app.auth,
                &app.id,
                &app.secret,
                &pairs,
            ),
            None => self.http().post(token_url).form(&pairs),
        };
        let response = request.send().await.map_err(|e| {
            Refusal::Failed(format!(
                "OAuth token refresh failed: {}",
                dispatch::transport_error(&e)
            ))
        })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            Refusal::Failed(format!(
                "OAuth token endpoint returned an unreadable body: {e}"
            ))
        })?;
        let answer = TokenAnswer::read(&body);
        if !status.is_success() {
            let message = format!(
                "OAuth token refresh was refused (HTTP {}): {}",
                status.as_u16(),
                answer
                    .refusal()
                    .map_or_else(String::new, |said| Value::from(said).to_string())
            );
            // RFC 6749 section 5.2: the grant (the refresh token) is invalid, expired or
            // revoked; only its owner's consent makes a new one.
            return Err(if answer.error.as_deref() == Some("invalid_grant") {
                Refusal::GrantRefused(message)
            } else {
                Refusal::Failed(message)
            });
        }
        let access = answer.access_token.ok_or_else(|| {
            Refusal::Failed("OAuth token endpoint returned no access_token".to_owned())
        })?;
        let mut next = current.clone();
        next.access_token = Some(access);
        if let Some(rotated) = answer.refresh_token {
            next.refresh_token = Some(rotated);
        }
        next.expires_at = answer.expires_at;
        Ok(next)
    }
}

/// A vendor token endpoint's answer (RFC 6749 sections 5.1 and 5.2), read from its JSON in
/// this one place for both the OAuth refresh and the connect flow's code exchange. No `Debug`:
/// it holds tokens.
pub struct TokenAnswer {
    /// The access token; `None` when absent or empty.
    pub access_token: Option<String>,
    /// A new refresh token, when the vendor rotates it.
    pub refresh_token: Option<String>,
    /// Unix seconds when the access token expires, from `expires_in`.
    pub expires_at: Option<i64>,
    /// The error code of a refusal (`invalid_grant`, ...).
    pub error: Option<String>,
    /// The refusal in the vendor's words.
    pub error_description: Option<String>,
}

impl TokenAnswer {
    /// Reads an answer's members; missing or mistyped ones are `None`.
    pub fn read(body: &Value) -> Self {
        let text = |name: &str| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        Self {
            access_token: text("access_token"),
            refresh_token: text("refresh_token"),
            expires_at: body
                .get("expires_in")
                .and_then(Value::as_i64)
                .map(|seconds| now() + seconds),
            error: text("error"),
            error_description: text("error_description"),
        }
    }

    /// What a refusal says: its description, else its code.
    pub fn refusal(&self) -> Option<&str> {
        self.error_description.as_deref().or(self.error.as_deref())
    }
}

/// A token request authenticated as the vendor expects: HTTP Basic with the form-encoded id
/// and secret (RFC 6749 section 2.3.1), or both in the form.
pub fn client_authenticated(
    request: reqwest::RequestBuilder,
    token_auth: TokenAuth,
    client_id: &str,
    client_secret: &str,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut pairs: Vec<(&str, &str)> = form.to_vec();
    let request = match token_auth {
        TokenAuth::ClientSecretBasic => {
            let encode =
                |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            request.basic_auth(encode(client_id), Some(encode(client_secret)))
        }
        TokenAuth::ClientSecretPost => {
            pairs.push(("client_id", client_id));
            pairs.push(("client_secret", client_secret));
            request
        }
    };
    request.form(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_is_read_once_for_its_tokens_and_its_refusal() {
        let ok = TokenAnswer::read(&serde_json::json!({
            "access_token": "at", "refresh_token": "", "expires_in": 60, "token_type": "Bearer"
        }));
        assert_eq!(ok.access_token.as_deref(), Some("at"));
        assert_eq!(
            ok.refresh_token, None,
            "an empty rotation keeps the current token"
        );
        assert!(ok.expires_at.is_some_and(|at| at > now()));
        let refused = TokenAnswer::read(&serde_json::json!({"error": "invalid_grant"}));
        assert_eq!(refused.refusal(), Some("invalid_grant"));
        let described = TokenAnswer::read(
            &serde_json::json!({"error": "invalid_grant", "error_description": "expired"}),
        );
        assert_eq!(described.refusal(), Some("expired"));
        assert_eq!(described.access_token, None);
    }

    #[test]
    fn debug_output_names_fields_and_prints_no_secret() {
        let credentials = Credentials {
            api_key: Some("sk_live_secret".into()),
            client_secret: Some("cs_secret".into()),
            ..Credentials::default()
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("api_key") && shown.contains("client_secret"),
            "{shown}"
        );
        assert!(
            !shown.contains("sk_live_secret") && !shown.contains("cs_secret"),
            "{shown}"
        );
    }

    #[test]
    fn the_client_authenticates_as_the_token_endpoint_expects() {
        use base64::Engine as _;
        let form = [("grant_type", "authorization_code"), ("code", "c")];
        let body = |request: reqwest::Request| {
            String::from_utf8(request.body().unwrap().as_bytes().unwrap().to_vec()).unwrap()
        };
        let client = reqwest::Client::new();
        // RFC 6749 section 2.3.1: id and secret form-encoded, then HTTP Basic.
        let basic = client_authenticated(
            client.post("https://vendor.example/token"),
            TokenAuth::ClientSecretBasic,
            "my client",
            "s:e/c",
            &form,
        )
        .build()
        .unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("my+client:s%3Ae%2Fc");
        assert_eq!(
            basic.headers()["authorization"],
            format!("Basic {expected}").as_str()
        );
        assert_eq!(body(basic), "grant_type=authorization_code&code=c");
        let post = client_authenticated(
            client.post("https://vendor.example/token"),
            TokenAuth::ClientSecretPost,
            "my client",
            "s:e/c",
            &form,
        )
        .build()
        .unwrap();
        assert!(post.headers().get("authorization").is_none());
        assert_eq!(
            body(post),
            "grant_type=authorization_code&code=c&client_id=my+client&client_secret=s%3Ae%2Fc"
        );
    }

    #[test]
    fn credentials_must_fit_auth_kind() {
        let key = Credentials {
            api_key: Some("k".into()),
            ..Credentials::default()
        };
        assert!(key.validate(&AuthKind::Bearer).is_ok());
        assert_eq!(
            Credentials::default()
                .validate(&AuthKind::Bearer)
                .unwrap_err()
                .to_string(),
            "`bearer` auth needs `api_key`"
        );
        assert!(
            key.validate(&AuthKind::OAuth2 {
                token_url: "x",
                grants: &[],
                authorize_url: "",
                token_auth: specgate_runtime::TokenAuth::ClientSecretBasic,
            })
            .is_err()
        );
        let stray = Credentials {
            api_key: Some("k".into()),
            password: Some("p".into()),
            ..Credentials::default()
        };
        assert_eq!(
            stray.validate(&AuthKind::Bearer).unwrap_err().to_string(),
            "`bearer` auth does not use `password`; it takes `api_key`"
        );
    }
}
