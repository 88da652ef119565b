//! Rate-limit headers in every style vendors use, normalized to seconds-until-reset.
//!
//! Read: `X-RateLimit-{Limit,Remaining,Reset}` (reset as delta seconds or a unix time),
//! `Retry-After` (seconds or an HTTP date), the IETF fields `RateLimit-{Limit,Remaining,Reset}`
//! and the structured `RateLimit` / `RateLimit-Policy` of the current draft.

use http::HeaderMap;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Normalized rate-limit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Requests allowed in the window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// Seconds until the window resets (or until a retry is allowed).
    pub reset: Option<u64>,
    /// Window length in seconds, from a policy.
    pub window: Option<u64>,
}

/// The rate-limit fields a response carries (the first of each name), found in one pass over
/// its headers rather than one lookup per name.
#[derive(Default)]
struct Fields<'a> {
    x_limit: Option<&'a str>,
    x_remaining: Option<&'a str>,
    x_reset: Option<&'a str>,
    limit: Option<&'a str>,
    remaining: Option<&'a str>,
    reset: Option<&'a str>,
    field: Option<&'a str>,
    policy: Option<&'a str>,
    retry_after: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut fields = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                "x-ratelimit-limit" => &mut fields.x_limit,
                "x-ratelimit-remaining" => &mut fields.x_remaining,
                "x-ratelimit-reset" => &mut fields.x_reset,
                "ratelimit-limit" => &mut fields.limit,
                "ratelimit-remaining" => &mut fields.remaining,
                "ratelimit-reset" => &mut fields.reset,
                "ratelimit" => &mut fields.field,
                "ratelimit-policy" => &mut fields.policy,
                "retry-after" => &mut fields.retry_after,
                _ => continue,
            };
            if slot.is_none() {
                *slot = value.to_str().ok().map(str::trim);
            }
        }
        fields
    }
}

/// A count or a number of seconds; `inf`, `1e999` and anything past 2^53 (where JSON numbers
/// stop being exact) are no number at all rather than `u64::MAX`.
fn number(text: &str) -> Option<u64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= 9_007_199_254_740_992.0)
        .map(|n| n.ceil() as u64)
}

/// The members of an RFC 9651 structured-field list (`"burst";r=5;t=1, "day";r=900;t=3600`),
/// split on the commas outside quoted strings.
fn sf_members(field: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, c) in field.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                members.push(field[start..at].trim());
                start = at + 1;
            }
            _ => {}
        }
    }
    members.push(field[start..].trim());
    members.retain(|m| !m.is_empty());
    members
}

/// The item of a list member (`"burst"` in `"burst";r=5`).
fn sf_item(member: &str) -> &str {
    member.split(';').next().unwrap_or_default().trim()
}

/// A parameter of an RFC 9651 structured-field item, e.g. `r` in `"default";r=50;t=30`.
fn sf_param(member: &str, key: &str) -> Option<u64> {
    member.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| number(v)).flatten()
    })
}

impl RateLimit {
    /// Reads whatever the vendor sent; `None` when it sent nothing rate-related.
    pub fn from_headers(headers: &HeaderMap, now_unix: i64) -> Option<Self> {
        let fields = Fields::of(headers);
        let mut out = Self {
            limit: fields.x_limit.or(fields.limit).and_then(number),
            remaining: fields.x_remaining.or(fields.remaining).and_then(number),
            reset: fields.reset.and_then(number),
            window: None,
        };
        if let Some(reset) = fields.x_reset.and_then(number) {
            // Values that look like unix times are converted to a delta.
            let delta = if reset > 1_000_000_000 {
                reset.saturating_sub(now_unix.max(0) as u64)
            } else {
                reset
            };
            out.reset = Some(delta);
        }
        // Of several listed limits, the one with the fewest requests left binds; its policy is
        // the one of the same name.
        let binding = fields.field.and_then(|field| {
            sf_members(field)
                .into_iter()
                .min_by_key(|member| sf_param(member, "r").unwrap_or(u64::MAX))
        });
        if let Some(member) = binding {
            out.remaining = sf_param(member, "r").or(out.remaining);
            out.reset = sf_param(member, "t").or(out.reset);
        }
        if let Some(policy) = fields.policy {
            let policies = sf_members(policy);
            let chosen = binding
                .and_then(|member| policies.iter().find(|p| sf_item(p) == sf_item(member)))
                .or(policies.first());
            if let Some(chosen) = chosen {
                out.limit = sf_param(chosen, "q").or(out.limit);
                out.window = sf_param(chosen, "w");
            }
        }
        if let Some(retry) = fields.retry_after {
            let seconds = number(retry).or_else(|| {
                OffsetDateTime::parse(retry, &Rfc2822)
                    .ok()
                    .map(|at| (at.unix_timestamp() - now_unix).max(0) as u64)
            });
            if let Some(seconds) = seconds {
                out.reset = Some(out.reset.map_or(seconds, |r| r.max(seconds)));
            }
        }
        (out != Self::default()).then_some(out)
    }

    /// `ratelimit-*` response headers (legacy IETF names) plus the current draft's
    /// `RateLimit-Policy` and `RateLimit` fields.
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(limit) = self.limit {
            headers.push(("ratelimit-limit", limit.to_string()));
        }
        if let Some(remaining) = self.remaining {
            headers.push(("ratelimit-remaining", remaining.to_string()));
        }
        if let Some(reset) = self.reset {
            headers.push(("ratelimit-reset", reset.to_string()));
        }
        if let Some(limit) = self.limit {
            let window = self.window.map_or_else(String::new, |w| format!(";w={w}"));
            headers.push(("ratelimit-policy", format!("\"vendor\";q={limit}{window}")));
        }
        if self.remaining.is_some() || self.reset.is_some() {
            let mut field = "\"vendor\"".to_owned();
            if let Some(remaining) = self.remaining {
                field.push_str(&format!(";r={remaining}"));
            }
            if let Some(reset) = self.reset {
                field.push_str(&format!(";t={reset}"));
            }
            headers.push(("ratelimit", field));
        }
        headers
    }

    /// The same information for the tool result, since models never see headers.
    pub fn to_json(&self) -> Value {
        json!({"limit": self.limit, "remaining": self.remaining, "reset_seconds": self.reset, "window_seconds": self.window})
    }

    /// Reads back what [`Self::to_json`] wrote; `None` for anything else.
    pub fn from_json(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let field = |name: &str| match object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(number) => number.as_u64().map(Some),
        };
        Some(Self {
            limit: field("limit")?,
            remaining: field("remaining")?,
            reset: field("reset_seconds")?,
            window: field("window_seconds")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_json_form_reads_back() {
        let full = RateLimit {
            limit: Some(60),
            remaining: Some(0),
            reset: Some(30),
            window: Some(60),
        };
        for rate_limit in [full, RateLimit::default()] {
            assert_eq!(
                RateLimit::from_json(&rate_limit.to_json()),
                Some(rate_limit)
            );
        }
        assert_eq!(RateLimit::from_json(&json!({"limit": "60"})), None);
        assert_eq!(RateLimit::from_json(&json!([])), None);
    }

    #[test]
    fn numbers_past_what_json_holds_exactly_are_no_numbers() {
        for absurd in ["inf", "1e999", "NaN", "-1", "1e300"] {
            assert_eq!(number(absurd), None, "{absurd}");
        }
        assert_eq!(number("2.5"), Some(3));
        let read = RateLimit::from_headers(
            &headers(&[("x-ratelimit-limit", "inf"), ("x-ratelimit-remaining", "3")]),
            0,
        )
        .unwrap();
        assert_eq!((read.limit, read.remaining), (None, Some(3)));
    }

    #[test]
    fn the_binding_limit_of_a_structured_list_is_read() {
        let read = RateLimit::from_headers(
            &headers(&[
                ("ratelimit", r#""day";r=900;t=3600, "burst";r=2;t=1"#),
                (
                    "ratelimit-policy",
                    r#""day";q=1000;w=86400, "burst";q=10;w=1"#,
                ),
            ]),
            0,
        )
        .unwrap();
        assert_eq!(
            (read.limit, read.remaining, read.reset, read.window),
            (Some(10), Some(2), Some(1), Some(1))
        );
        assert_eq!(
            sf_members(r#""a,b";r=1, "c";r=2"#),
            [r#""a,b";r=1"#, r#""c";r=2"#]
        );
    }

    #[test]
    fn every_header_style_normalizes() {
        let now = 1_700_000_000;
        let x = RateLimit::from_headers(
            &headers(&[
                ("x-ratelimit-limit", "60"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000030"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            (x.limit, x.remaining, x.reset),
            (Some(60), Some(0), Some(30))
        );
        let seconds = RateLimit::from_headers(&headers(&[("retry-after", "12")]), now).unwrap();
        assert_eq!(seconds.reset, Some(12));
        let date = RateLimit::from_headers(
            &headers(&[("retry-after", "Tue, 14 Nov 2023 22:14:20 GMT")]),
            1_700_000_000,
        )
        .unwrap();
        assert_eq!(date.reset, Some(60));
        let ietf = RateLimit::from_headers(
            &headers(&[
                ("ratelimit-policy", "\"default\";q=100;w=60"),
                ("ratelimit", "\"default\";r=0;t=45"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            (ietf.limit, ietf.remaining, ietf.reset, ietf.window),
            (Some(100), Some(0), Some(45), Some(60))
        );
        assert_eq!(RateLimit::from_headers(&HeaderMap::new(), now), None);
        assert_eq!(
            ietf.response_headers(),
            vec![
                ("ratelimit-limit", "100".to_owned()),
                ("ratelimit-remaining", "0".to_owned()),
                ("ratelimit-reset", "45".to_owned()),
                ("ratelimit-policy", "\"vendor\";q=100;w=60".to_owned()),
                ("ratelimit", "\"vendor\";r=0;t=45".to_owned()),
            ]
        );
    }
}
