//! A call's vendor request over HTTP: the URL under the account's base URL and the egress
//! checks on it, the body as its media type needs, credentials applied, one forced OAuth
//! refresh after a 401, and the response read within a size cap.

use specgate_runtime::{AuthKind, BodyKind, HttpMethod, HttpRequest, Integration, form_pairs};

use super::credentials::{Credentials, Upstream};
use super::{CallError, Caller};
use crate::egress::PrivateAddressesOnly;
use crate::store::Account;

/// Largest upstream body kept; longer text is truncated with a note.
pub(super) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A request body as it goes on the wire.
pub(super) enum WireBody {
    /// Form pairs (reqwest sets the form content type).
    Form(Vec<(String, String)>),
    /// Bytes sent with the operation's content type; shared, so a retry does not copy them.
    Bytes(bytes::Bytes),
}

/// Encodes the body the way its media type needs: JSON text, bracket-notation form pairs, a
/// text argument as is, or a base64 argument decoded.
pub(super) fn wire_body(request: &HttpRequest) -> Result<Option<WireBody>, CallError> {
    let Some(body) = &request.body else {
        return Ok(None);
    };
    let text = |value: &serde_json::Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    Ok(Some(match request.body_kind {
        BodyKind::Json => WireBody::Bytes(body.to_string().into()),
        BodyKind::Form { deep_object } => WireBody::Form(
            form_pairs(body, deep_object)
                .map_err(|e| CallError::InvalidArguments(e.to_string()))?,
        ),
        BodyKind::Text => WireBody::Bytes(text(body).into()),
        BodyKind::Binary => {
            use base64::Engine;
            let encoded = text(body);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
                .map_err(|e| {
                    CallError::InvalidArguments(format!(
                        "argument `body`: not valid base64 ({e}); send the bytes base64-encoded"
                    ))
                })?;
            WireBody::Bytes(bytes.into())
        }
    }))
}

/// What a vendor answered, read: the parts the result is shaped from.
pub(super) struct VendorResponse {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_BODY_BYTES`].
    pub text: String,
    /// Whether the body was longer than the cap.
    pub truncated: bool,
}

impl VendorResponse {
    /// A header's value as text, if present and readable.
    pub fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Caller {
    /// The vendor URL of `request` under the account's base URL, after the egress checks:
    /// the scheme and address, and, for an account's own base URL, a host the spec declares
    /// or an operator allows now, not only when it was set.
    pub(super) async fn vendor_url(
        &self,
        account: &Account,
        integration: &Integration,
        upstream: &Upstream,
        request: &HttpRequest,
    ) -> Result<reqwest::Url, CallError> {
        let mut url = upstream_url(account, integration, upstream, &request.path)?;
        crate::egress::check_url(&url, self.allow_insecure).map_err(|why| {
            CallError::EgressRefused(format!(
                "Refusing to call the vendor: the account's base URL {why}."
            ))
        })?;
        if account.base_url.is_some() {
            match &upstream.operator_hosts {
                // Decided once per resolution, which ends with any change to the hosts.
                Some(hosts) => upstream
                    .base_url_allowed
                    .get_or_init(|| still_allowed(integration, hosts, &url, account, "base URL"))
                    .clone()?,
                None => {
                    let hosts = self.operator_hosts(integration).await?;
                    still_allowed(integration, &hosts, &url, account, "base URL")?;
                }
            }
        }
        if !request.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &request.query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }

    /// Sends the request with the account's credentials. An OAuth vendor that rejects a token
    /// it issued (401) gets one forced refresh and one retry; nothing else is ever retried.
    pub(super) async fn exchange(
        &self,
        account: &Account,
        integration: &Integration,
        upstream: &Upstream,
        request: &HttpRequest,
        url: reqwest::Url,
    ) -> Result<VendorResponse, CallError> {
        let body = wire_body(request)?;
        let mut rejected: Option<String> = None;
        let response = loop {
            // The credentials read with the token serve the first attempt; a retry after a
            // rejected token reads them again.
            let prefetched = rejected.is_none().then_some(upstream);
            let credentials = self
                .credentials(account, integration, rejected.as_deref(), prefetched)
                .await?;
            let response = self
                .send(
                    integration,
                    request,
                    body.as_ref(),
                    url.clone(),
                    &credentials,
                )
                .await?;
            let refreshable =
                credentials.client_id.is_some() || credentials.refresh_token.is_some();
            if response.status() != reqwest::StatusCode::UNAUTHORIZED
                || !matches!(integration.auth, AuthKind::OAuth2 { .. })
                || rejected.is_some()
                || !refreshable
            {
                break response;
            }
            rejected = Some(credentials.access_token.clone().unwrap_or_default());
        };
        let status = response.status();
        let headers = response.headers().clone();
        let (bytes, truncated) = read_capped(response).await?;
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned());
        Ok(VendorResponse {
            status,
            headers,
            text,
            truncated,
        })
    }

    /// Sends one vendor request with the account's credentials applied.
    async fn send(
        &self,
        integration: &Integration,
        request: &HttpRequest,
        body: Option<&WireBody>,
        mut url: reqwest::Url,
        credentials: &Credentials,
    ) -> Result<reqwest::Response, CallError> {
        if let AuthKind::Query { name } = integration.auth {
            url.query_pairs_mut()
                .append_pair(name, credentials.api_key.as_deref().unwrap_or_default());
        }
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.http().request(method, url);
        for (name, value) in integration.default_headers {
            builder = builder.header(*name, *value);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        builder = match integration.auth {
            AuthKind::None | AuthKind::Query { .. } => builder,
            AuthKind::Bearer => {
                builder.bearer_auth(credentials.api_key.as_deref().unwrap_or_default())
            }
            AuthKind::Header { name } => {
                builder.header(name, credentials.api_key.as_deref().unwrap_or_default())
            }
            AuthKind::Basic => builder.basic_auth(
                credentials.username.as_deref().unwrap_or_default(),
                credentials.password.as_deref(),
            ),
            AuthKind::OAuth2 { .. } => {
                builder.bearer_auth(credentials.access_token.as_deref().unwrap_or_default())
            }
        };
        builder = match body {
            None => builder,
            Some(WireBody::Form(pairs)) => builder.form(pairs),
            Some(WireBody::Bytes(bytes)) => builder
                .header(reqwest::header::CONTENT_TYPE, request.content_type)
                .body(bytes.clone()),
        };
        builder.send().await.map_err(|e| transport_error(&e))
    }
}

/// The vendor URL of `path` (already percent-encoded) under the account's base URL, whose
/// parse is kept in `upstream`: a path is set on a copy without parsing the host again. A
/// path with a query or fragment delimiter is parsed whole.
fn upstream_url(
    account: &Account,
    integration: &Integration,
    upstream: &Upstream,
    path: &str,
) -> Result<reqwest::Url, CallError> {
    fn invalid(e: impl std::fmt::Display) -> CallError {
        CallError::EgressRefused(format!("Invalid upstream URL: {e}"))
    }
    let base = account
        .base_url
        .as_deref()
        .unwrap_or(integration.base_url)
        .trim_end_matches('/');
    if path.contains(['?', '#']) {
        return reqwest::Url::parse(&format!("{base}{path}")).map_err(invalid);
    }
    let parsed = match upstream.base_url.get() {
        Some(parsed) => parsed,
        None => {
            let parsed = reqwest::Url::parse(base).map_err(invalid)?;
            upstream.base_url.get_or_init(|| parsed)
        }
    };
    let mut url = parsed.clone();
    url.set_path(&format!("{}{path}", parsed.path().trim_end_matches('/')));
    Ok(url)
}

/// Refuses a URL of an account's own (its base URL or token URL) whose host neither the spec
/// declares nor an operator allows any longer, saying what the operator can do.
pub(super) fn still_allowed(
    integration: &Integration,
    operator_hosts: &[String],
    url: &reqwest::Url,
    account: &Account,
    what: &str,
) -> Result<(), CallError> {
    let host = url.host_str().unwrap_or_default();
    let allowed = crate::egress::declared_hosts(integration)
        .iter()
        .chain(operator_hosts)
        .any(|pattern| crate::egress::host_matches(pattern, host));
    if allowed {
        return Ok(());
    }
    let name = integration.name;
    Err(CallError::EgressRefused(format!(
        "Refusing to call the vendor: the account's {what} host `{host}` is no longer allowed for integration `{name}`. An operator must allow it again (`specgate upstream-host allow --integration {name} {host}` or POST /integrations/{name}/upstream-hosts) or move account `{}` to an allowed host (PATCH /integrated-account/{}).",
        account.id, account.id
    )))
}

async fn read_capped(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), CallError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| match transport_error(&e) {
            CallError::Transport(cause) => CallError::Transport(format!(
                "The vendor connection failed while reading the response: {cause}"
            )),
            other => other,
        })?
    {
        let room = MAX_BODY_BYTES.saturating_sub(bytes.len());
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok((bytes, true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, false))
}

/// Classifies a failed vendor exchange: a timeout, an address the egress resolver refused,
/// or another transport failure. The message never includes the URL, which may carry a key.
pub(crate) fn transport_error(error: &reqwest::Error) -> CallError {
    if error.is_timeout() {
        return CallError::Timeout;
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        if let Some(refusal) = source.downcast_ref::<PrivateAddressesOnly>() {
            return CallError::EgressRefused(format!(
                "Could not connect to the vendor: {refusal}."
            ));
        }
        cause = source;
    }
    if error.is_connect() {
        // The innermost cause says why (refused or unreachable).
        CallError::Transport(format!("Could not connect to the vendor: {cause}."))
    } else {
        let cause = std::error::Error::source(error)
            .map_or_else(|| "unknown cause".to_owned(), ToString::to_string);
        CallError::Transport(format!("The request to the vendor failed: {cause}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use specgate_runtime::{BodyKind, HttpMethod, HttpRequest};

    use super::{WireBody, wire_body};

    fn post(body: Value, content_type: &'static str, body_kind: BodyKind) -> HttpRequest {
        HttpRequest {
            method: HttpMethod::Post,
            path: "/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Some(body),
            content_type,
            body_kind,
            page_limit: None,
            page_cursor: None,
            response_fields: None,
        }
    }

    /// A nested form body reaches a server that parses bracket notation as Stripe documents
    /// it, and means the same JSON there.
    #[tokio::test]
    async fn form_bodies_arrive_as_the_json_they_encode() {
        let (address, _sandbox) = crate::sandbox::spawn().await.unwrap();
        let body = json!({
            "amount": 2000,
            "metadata": {"order_id": "6735", "note": "gift"},
            "items": [{"price": "price_1", "quantity": 2}, {"price": "price_2", "quantity": 1}],
            "expand": ["customer"],
            "tag": ["a", "b"]
        });
        let request = post(
            body,
            "application/x-www-form-urlencoded",
            BodyKind::Form {
                deep_object: &["expand", "metadata"],
            },
        );
        let Some(WireBody::Form(pairs)) = wire_body(&request).unwrap() else {
            panic!("a form body");
        };
        let echoed: Value = reqwest::Client::new()
            .post(format!("http://{address}/__sandbox/form-echo"))
            .form(&pairs)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            echoed,
            json!({
                "amount": "2000",
                "metadata": {"order_id": "6735", "note": "gift"},
                "items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2", "quantity": "1"}],
                "expand": ["customer"],
                "tag": ["a", "b"]
            })
        );
    }

    #[test]
    fn binary_bodies_are_decoded_and_bad_base64_is_an_argument_error() {
        let mut request = post(
            json!("aGVsbG8="),
            "application/octet-stream",
            BodyKind::Binary,
        );
        let Some(WireBody::Bytes(bytes)) = wire_body(&request).unwrap() else {
            panic!("bytes");
        };
        assert_eq!(&bytes[..], b"hello");
        request.body = Some(json!("not base64!"));
        let Err(error) = wire_body(&request) else {
            panic!("refused");
        };
        assert_eq!(error.class(), super::super::CallClass::InvalidArguments);
        assert!(
            error
                .to_string()
                .contains("argument `body`: not valid base64"),
            "{error}"
        );
        request.body = Some(json!("<a>text</a>"));
        request.body_kind = BodyKind::Text;
        let Some(WireBody::Bytes(bytes)) = wire_body(&request).unwrap() else {
            panic!("bytes");
        };
        assert_eq!(&bytes[..], b"<a>text</a>");
    }
}
