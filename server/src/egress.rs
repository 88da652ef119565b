//! Where vendor requests may go. Stored credentials are sent only to hosts the integration's
//! spec declares or an operator allowed, never to private, loopback, link-local or metadata
//! addresses (unless `--allow-insecure-upstreams`), and redirects never leave the origin.
//! Addresses are checked after DNS resolution too, so a public name that resolves to
//! 169.254.169.254 is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use specgate_runtime::{AuthKind, Integration};

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), shared (CGNAT), link-local (which holds cloud metadata services), unspecified,
/// broadcast, multicast or documentation space. An IPv6 address that carries an IPv4 one
/// (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 address too, since a
/// translator on the path delivers it there.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6) && embedded_v4(v6).into_iter().all(is_public_v4),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, including fd00:ec2::254
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x0064 && second == 0xff9b && ip.segments()[2] == 0x0001)) // local-use NAT64, RFC 8215
}

/// The IPv4 addresses an IPv6 address carries: IPv4-mapped (`::ffff:0:0/96`), IPv4-translated
/// (`::ffff:0:0:0/96`), IPv4-compatible (`::/96`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`),
/// 6to4 (`2002::/16`) and Teredo (`2001::/32`: its server and its obfuscated client).
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    let last = from(s[6], s[7]);
    let prefix96 = [s[0], s[1], s[2], s[3], s[4], s[5]];
    match prefix96 {
        [0, 0, 0, 0, 0, 0xffff] | [0, 0, 0, 0, 0xffff, 0] | [0, 0, 0, 0, 0, 0] => vec![last],
        [0x0064, 0xff9b, 0, 0, 0, 0] => vec![last],
        [0x0064, 0xff9b, 0x0001, ..] => vec![last],
        [0x2002, ..] => vec![from(s[1], s[2])],
        [0x2001, 0, ..] => vec![from(s[2], s[3]), from(!s[6], !s[7])],
        _ => vec![],
    }
}

pub use specgate_wire::oauth::is_loopback_host;

/// Whether `host` matches an allow-list pattern: the same name, or `*.suffix` for any
/// subdomain of `suffix`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => pattern == host,
    }
}

/// The host patterns an integration's spec declares: the host of its base URL and of its
/// OAuth token URL. A templated label (`{tenant}.example.com`) becomes `*.example.com`; a
/// template in the last two labels, or no base URL at all, declares nothing.
pub fn declared_hosts(integration: &Integration) -> Vec<String> {
    let mut urls = vec![integration.base_url];
    if let AuthKind::OAuth2 { token_url, .. } = integration.auth {
        urls.push(token_url);
    }
    let mut hosts: Vec<String> = urls.into_iter().filter_map(declared_host).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

fn declared_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let templated = labels.iter().rposition(|l| l.contains('{'));
    match templated {
        None => Some(host),
        Some(last) if labels.len() - last > 2 => {
            Some(format!("*.{}", labels[last + 1..].join(".")))
        }
        Some(_) => None,
    }
}

/// A DNS resolver that drops non-public addresses, unless private upstreams are allowed.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Accept loopback and private addresses (tests and demos).
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if usable.is_empty() {
                return Err(Box::new(PrivateAddressesOnly { host }) as _);
            }
            Ok(Box::new(usable.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A vendor host that resolved to no address vendor requests may go to.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to private, loopback or link-local addresses, which vendor requests never go to"
)]
pub struct PrivateAddressesOnly {
    /// The host name.
    pub host: String,
}

/// Why a URL may not receive vendor credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Plain http to a loopback host, without `--allow-insecure-upstreams`.
    #[error("must be https; loopback http needs --allow-insecure-upstreams")]
    LoopbackHttp,
    /// Any scheme but https.
    #[error("must be an https URL")]
    NotHttps,
    /// An IP literal that is not public.
    #[error(
        "{0} is a private, loopback or link-local address; vendor credentials are never sent there"
    )]
    PrivateAddress(IpAddr),
}

/// Follows a redirect only within the origin of the first request (so never to another host
/// or from https to http), at most five times.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The proxy variables set in this process's environment. Egress never uses them: through a
/// proxy, specgate would not resolve a name itself, and the address rules above would see
/// only IP literals. `serve` warns when one is set.
pub fn proxy_variables() -> Vec<String> {
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
        .into_iter()
        .flat_map(|name| [name.to_owned(), name.to_ascii_lowercase()])
        .filter(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        .collect()
}

/// The shared HTTP client for vendor requests and client documents: direct connections only
/// (proxy variables are ignored, see [`proxy_variables`]), every name resolved here.
pub fn client(timeout: std::time::Duration, allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("specgate/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy())
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .unwrap_or_default()
}

/// Checks a URL that vendor credentials will be sent to: https (or loopback http when
/// insecure upstreams are allowed), and an IP-literal host only if public.
pub fn check_url(url: &reqwest::Url, allow_insecure: bool) -> Result<(), UrlRefusal> {
    let host = url.host_str().unwrap_or_default();
    let loopback = is_loopback_host(host);
    match url.scheme() {
        "https" => {}
        "http" if loopback && allow_insecure => {}
        "http" if loopback => return Err(UrlRefusal::LoopbackHttp),
        _ => return Err(UrlRefusal::NotHttps),
    }
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        && !is_public(ip)
        && !allow_insecure
    {
        return Err(UrlRefusal::PrivateAddress(ip));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_private_and_loopback_addresses_are_not_public() {
        for private in [
            "169.254.169.254",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:169.254.169.254",
            // IPv4 inside IPv6: compatible, translated, NAT64, 6to4, Teredo.
            "::169.254.169.254",
            "::a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::8.8.8.8",
            "2002:a9fe:a9fe::1",
            "2002:0a00:0001::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo, client 192.0.2.45
            "2001:0:a9fe:a9fe::1",                  // Teredo, server 169.254.169.254
            "2001:0:4136:e378:8000:63bf:f5fe:fffe", // Teredo, client 10.1.0.1
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("api.example.com", "API.example.com"));
        assert!(!host_matches("api.example.com", "api.example.com.evil.io"));
        assert!(host_matches("*.example.com", "acme.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "evilexample.com"));
        assert_eq!(
            declared_host("https://api.gomalomo.com/v2").as_deref(),
            Some("api.gomalomo.com")
        );
        assert_eq!(
            declared_host("https://{tenant}.zendesk.com/api").as_deref(),
            Some("*.zendesk.com")
        );
        assert_eq!(declared_host("https://{hostname}/v1"), None);
        assert_eq!(declared_host("https://api.{region}.com"), None);
        assert_eq!(declared_host(""), None);
    }

    #[test]
    fn urls_that_credentials_may_go_to() {
        let check = |u: &str, insecure| check_url(&reqwest::Url::parse(u).unwrap(), insecure);
        assert!(check("https://api.example.com/v1", false).is_ok());
        assert!(check("http://api.example.com/v1", true).is_err());
        assert!(check("http://127.0.0.1:9000/x", false).is_err());
        assert!(check("http://127.0.0.1:9000/x", true).is_ok());
        assert!(check("https://169.254.169.254/latest", false).is_err());
        assert!(check("https://[fd00:ec2::254]/latest", false).is_err());
        assert!(check("https://10.1.2.3/", true).is_ok());
    }
}
