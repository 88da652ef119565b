//! The client's address, which the per-address limits ([`crate::limiter`]) are keyed by: the
//! connection's peer, or, when that peer is a reverse proxy the operator trusts
//! (`--trusted-proxy`), the address it forwards in `X-Forwarded-For`. `serve` and `demo` serve
//! every listener with connection info, so the peer is always known there.
//!
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the address it saw, so
//! the rightmost entry that is not a trusted proxy is the first address nobody trusted vouched
//! for. Entries to its left were written by the client and are never believed. Without a
//! trusted proxy the header is ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use http::request::Parts;
use ipnet::IpNet;

use crate::state::AppState;

/// The address a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl<S> FromRequestParts<S> for ClientAddress
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        // Only a router driven without a socket (`tower::ServiceExt::oneshot`) has no peer;
        // all such requests share one address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok());
        Ok(Self(client_address(
            peer,
            forwarded,
            &state.config.trusted_proxies,
        )))
    }
}

/// The client's address from the connection's `peer`, the `X-Forwarded-For` header lines in
/// order, and the trusted proxies.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded.flat_map(|line| line.split(',')).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        // An entry a trusted proxy did not write in a form we read ends the chain at the last
        // hop we could vouch for.
        let Some(address) = parse_entry(entry) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, optionally bracketed or with a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
}

/// A `--trusted-proxy` value that names no network.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an address or a network in CIDR notation (10.0.0.0/8)")]
pub struct NotANetwork(String);

/// `--trusted-proxy`: a network in CIDR notation, or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, NotANetwork> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| NotANetwork(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|n| parse_trusted_proxy(n).unwrap())
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let forwarded = ["203.0.113.7"];
        assert_eq!(
            client_address(ip("198.51.100.1"), forwarded.into_iter(), &[]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(
                ip("198.51.100.1"),
                forwarded.into_iter(),
                &nets(&["10.0.0.0/8"])
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                forwarded.into_iter(),
                &nets(&["10.0.0.0/8"])
            ),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.1"]);
        // The client wrote "1.1.1.1" itself; the proxies appended what they saw.
        let lines = ["1.1.1.1, 203.0.113.7", "192.0.2.1"];
        assert_eq!(
            client_address(ip("10.0.0.5"), lines.into_iter(), &trusted),
            ip("203.0.113.7")
        );
        // Ports, brackets and IPv6 as proxies write them.
        for entry in ["203.0.113.7:4711", "[2001:db8::1]", "[2001:db8::1]:443"] {
            let address = client_address(ip("10.0.0.5"), [entry].into_iter(), &trusted);
            assert_ne!(address, ip("10.0.0.5"), "{entry}");
        }
        // A garbled entry stops at the last trusted hop rather than believing what lies left of it.
        assert_eq!(
            client_address(
                ip("10.0.0.5"),
                ["203.0.113.7, garbage"].into_iter(),
                &trusted
            ),
            ip("10.0.0.5")
        );
        // Only trusted hops: the leftmost of them.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["10.9.9.9"].into_iter(), &trusted),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn trusted_proxies_parse_as_networks_or_addresses() {
        assert_eq!(
            parse_trusted_proxy("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(parse_trusted_proxy("::1").unwrap().to_string(), "::1/128");
        assert!(parse_trusted_proxy("10.0.0.0/8").is_ok());
        let error = parse_trusted_proxy("10.0.0.0/33").unwrap_err();
        assert!(error.to_string().contains("CIDR"), "{error}");
    }
}
