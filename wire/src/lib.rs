//! What vendors send back, read without trusting it: a JSON body scanned in place
//! ([`vendor_json`]), rate-limit headers in every style ([`ratelimit`]), and the next-page
//! link of an RFC 8288 `Link` header ([`link`]). No server framework, so the fuzz targets
//! (`fuzz/`) build it quickly.

pub mod link;
pub mod ratelimit;
pub mod vendor_json;
