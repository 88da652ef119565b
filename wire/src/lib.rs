//! Untrusted input, read without trusting it. What vendors send back: a JSON body scanned in
//! place ([`vendor_json`]), rate-limit headers in every style ([`ratelimit`]), and the
//! next-page link of an RFC 8288 `Link` header ([`link`]). What OAuth clients send: request
//! parameters and redirect URIs ([`oauth`]). No server framework, so the fuzz targets
//! (`fuzz/`) build it quickly.

pub mod link;
pub mod oauth;
pub mod ratelimit;
pub mod vendor_json;
