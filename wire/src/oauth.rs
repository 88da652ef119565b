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

/// Whether `uri` is one a client may register or use as a redirect URI: an absolute URI
/// without a fragment; https, http to a loopback host only, or a private-use scheme of a
/// native app (never `javascript:`, `data:` and the like).
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
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            false
        }
        _ => true,
    }
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
        assert!(!usable_redirect("http://evil.example/callback"));
        assert!(!usable_redirect("javascript:alert(1)"));
        assert!(!usable_redirect("https://claude.ai/cb#fragment"));
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
