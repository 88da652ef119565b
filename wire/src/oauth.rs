//! What OAuth clients send, read without trusting it: the parameters of a form or query
//! string (a repeated parameter is refused, RFC 6749 section 3.1), and redirect URIs: which
//! ones a client may register, and whether one matches a registered one.

use std::net::IpAddr;

/// A parameter sent more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedParameter(pub String);

/// The parameters of `application/x-www-form-urlencoded` text, in order; a repeated name is
/// refused rather than resolved either way.
pub fn parameters(
    raw: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, RepeatedParameter> {
    let mut object = serde_json::Map::new();
    for (key, value) in url::form_urlencoded::parse(raw) {
        if object.contains_key(key.as_ref()) {
            return Err(RepeatedParameter(key.into_owned()));
        }
        object.insert(
            key.into_owned(),
            serde_json::Value::String(value.into_owned()),
        );
    }
    Ok(object)
}

/// Whether a URL host is a loopback name or address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Schemes that open something of the operating system or the browser rather than an app
/// that waits for a code: a redirect there could run a search, a settings page or a
/// download. Refused even with a dot, and `ms-*` as a family.
const DENIED_SCHEMES: [&str; 24] = [
    "javascript",
    "data",
    "file",
    "filesystem",
    "vbscript",
    "blob",
    "about",
    "ftp",
    "ws",
    "wss",
    "search",
    "search-ms",
    "chrome",
    "chrome-extension",
    "edge",
    "view-source",
    "jar",
    "mailto",
    "tel",
    "sms",
    "intent",
    "shell",
    "mk",
    "res",
];

/// Editors whose MCP clients use a private-use scheme without a dot, against RFC 8252
/// section 7.1; accepted by name, so no other dotless scheme is.
const KNOWN_APP_SCHEMES: [&str; 4] = ["cursor", "vscode", "vscode-insiders", "windsurf"];

/// Whether `uri` is one a client may register or use as a redirect URI: an absolute URI
/// without a fragment; https, http to a loopback host only, or a native app's private-use
/// scheme, which RFC 8252 section 7.1 writes as a reversed domain name (`com.example.app:`),
/// never one of the system's handlers (`javascript:`, `search-ms:`, `ms-settings:`, ...).
pub fn usable_redirect(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => url.host_str().is_some_and(is_loopback_host),
        scheme => usable_app_scheme(scheme),
    }
}

fn usable_app_scheme(scheme: &str) -> bool {
    let denied = DENIED_SCHEMES.contains(&scheme)
        || scheme.starts_with("ms-")
        || scheme.starts_with("itms")
        || scheme.starts_with("x-");
    !denied && (scheme.contains('.') || KNOWN_APP_SCHEMES.contains(&scheme))
}

/// Where a usable redirect URI sends the person, as the consent page names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTarget {
    /// A web origin (`https://claude.ai`), shown in full.
    Web(String),
    /// A program on the person's own machine, listening on a loopback port.
    Loopback(String),
    /// The app that opens links of this scheme.
    App(String),
}

/// Where `uri` sends the person; `None` when it is not a URL.
pub fn redirect_target(uri: &str) -> Option<RedirectTarget> {
    let url = url::Url::parse(uri).ok()?;
    Some(match url.scheme() {
        "https" => RedirectTarget::Web(url.origin().ascii_serialization()),
        "http" => RedirectTarget::Loopback(url.origin().ascii_serialization()),
        scheme => RedirectTarget::App(format!("{scheme}:")),
    })
}

/// What kind of client registers its redirect URIs (OpenID Connect Dynamic Client
/// Registration, `application_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationType {
    /// A web application: https redirect URIs on a host other than a loopback one.
    Web,
    /// An app on the person's device: loopback http, or its own private-use scheme.
    Native,
}

impl ApplicationType {
    /// Reads `web` or `native`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Whether a usable redirect URI suits this kind of client.
    pub fn allows(self, uri: &str) -> bool {
        let loopback = url::Url::parse(uri)
            .ok()
            .and_then(|url| url.host_str().map(is_loopback_host))
            .unwrap_or(false);
        match (self, redirect_target(uri)) {
            (Self::Web, Some(RedirectTarget::Web(_))) => !loopback,
            (Self::Native, Some(RedirectTarget::Loopback(_) | RedirectTarget::App(_))) => true,
            _ => false,
        }
    }
}

/// Whether `text` holds a character that changes how text around it is shown without being
/// seen itself: bidirectional controls, zero-width characters and the other Unicode format
/// characters (category Cf), or a control character.
pub fn has_invisible_characters(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_control()
            || matches!(c,
                '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}')
    })
}

/// Whether a redirect URI matches a registered one: exactly, except the port of a loopback
/// http redirect, which native apps pick when they start (RFC 8252 section 7.3).
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(mut registered), Ok(mut given)) = (url::Url::parse(registered), url::Url::parse(given))
    else {
        return false;
    };
    let loopback = given.scheme() == "http" && given.host_str().is_some_and(is_loopback_host);
    if !loopback {
        return false;
    }
    let _ = registered.set_port(None);
    let _ = given.set_port(None);
    registered == given
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_clients_get_https_and_native_clients_loopback_or_their_own_scheme() {
        let web = ApplicationType::Web;
        assert!(web.allows("https://chatgpt.com/connector/oauth/cb"));
        assert!(!web.allows("https://localhost/cb"));
        assert!(!web.allows("http://127.0.0.1:3000/cb"));
        assert!(!web.allows("com.example.app:/cb"));
        let native = ApplicationType::Native;
        assert!(native.allows("http://127.0.0.1:53682/callback"));
        assert!(native.allows("cursor://anysphere.cursor-mcp/oauth/callback"));
        assert!(!native.allows("https://claude.ai/api/mcp/auth_callback"));
        assert_eq!(ApplicationType::parse("native"), Some(native));
        assert_eq!(ApplicationType::parse("desktop"), None);
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_a_loopback_port() {
        let chatgpt = "https://chatgpt.com/connector_platform_oauth_redirect";
        assert!(redirect_matches(chatgpt, chatgpt));
        assert!(!redirect_matches(chatgpt, &format!("{chatgpt}/")));
        assert!(!redirect_matches(
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.ai:8443/api/mcp/auth_callback"
        ));
        assert!(redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53117/callback"
        ));
        assert!(redirect_matches("http://[::1]:1/cb", "http://[::1]:2/cb"));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53117/other"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.2/callback"
        ));
        assert!(usable_redirect(
            "cursor://anysphere.cursor-retrieval/oauth/callback"
        ));
        assert!(usable_redirect("com.example.app:/oauth2redirect"));
        assert!(!usable_redirect("http://evil.example/callback"));
        assert!(!usable_redirect("javascript:alert(1)"));
        assert!(!usable_redirect("https://claude.ai/cb#fragment"));
    }

    #[test]
    fn system_handler_schemes_and_dotless_schemes_are_refused() {
        for refused in [
            "search-ms:query=invoice&crumb=location:\\\\evil.example\\share",
            "ms-settings:privacy",
            "ms-msdt:/id",
            "chrome://settings",
            "view-source:https://example.com",
            "jar:https://example.com/a.jar!/",
            "filesystem:https://example.com/temporary/x",
            "mailto:a@example.com",
            "evilapp://chatgpt.com/callback",
            "x-apple.systempreferences:com.apple.preference",
        ] {
            assert!(!usable_redirect(refused), "{refused}");
        }
        assert_eq!(
            redirect_target("evilapp.example://chatgpt.com/cb"),
            Some(RedirectTarget::App("evilapp.example:".to_owned()))
        );
        assert_eq!(
            redirect_target("https://chatgpt.com/connector_platform_oauth_redirect"),
            Some(RedirectTarget::Web("https://chatgpt.com".to_owned()))
        );
    }

    #[test]
    fn invisible_characters_are_found() {
        assert!(!has_invisible_characters("Claude Desktop"));
        assert!(!has_invisible_characters("Café 東京"));
        for spoof in [
            "Chat\u{200b}GPT",
            "\u{202e}TPGtahC",
            "a\u{2066}b",
            "\u{feff}x",
            "tab\t",
        ] {
            assert!(has_invisible_characters(spoof), "{spoof:?}");
        }
    }

    #[test]
    fn a_repeated_parameter_is_refused() {
        assert_eq!(
            parameters(b"a=1&b=2&a=3"),
            Err(RepeatedParameter("a".to_owned()))
        );
        let read = parameters(b"code=x%2By&state=").unwrap();
        assert_eq!(read["code"], "x+y");
        assert_eq!(read["state"], "");
    }
}
