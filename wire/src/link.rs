//! The next page of an RFC 8288 `Link` header.

/// The cursor parameter of the RFC 8288 link whose `rel` includes `next`. Targets are read
/// between `<` and `>` (so commas inside URLs do not split links), `rel` may list several
/// relations (`rel="next last"`), and a fragment is not part of the query.
pub fn next_param(link: &str, cursor_param: &str) -> Option<String> {
    let mut rest = link;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        // This link's parameters run to the next target.
        let params_end = rest[close..].find('<').map_or(rest.len(), |at| close + at);
        let params = &rest[close + 1..params_end];
        rest = &rest[params_end..];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if !is_next {
            continue;
        }
        let url = target.split_once('#').map_or(target, |(url, _)| url);
        let query = url.split_once('?').map_or("", |(_, q)| q);
        // Read as a URL's query is (`+` is a space), which is how the cursor goes back out;
        // an empty cursor names no page.
        return url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == cursor_param)
            .map(|(_, value)| value.into_owned())
            .filter(|value| !value.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_read_as_rfc_8288_writes_them() {
        let cases = [
            (
                r#"<https://v.test/a?cursor=p1>; rel="prev", <https://v.test/a?cursor=n1>; rel="next""#,
                Some("n1"),
            ),
            (
                r#"<https://v.test/a?ids=1,2&cursor=n2>; rel="next""#,
                Some("n2"),
            ),
            (
                r#"<https://v.test/a?cursor=n3>; rel="next last""#,
                Some("n3"),
            ),
            (r#"<https://v.test/a?cursor=n4#frag>; rel=next"#, Some("n4")),
            (
                r#"<https://v.test/a?cursor=a+b%2Bc%20d>; rel="next""#,
                Some("a b+c d"),
            ),
            (r#"<https://v.test/a?cursor=l>; rel="last""#, None),
            (r#"<https://v.test/a?cursor>; rel="next""#, None),
            (r#"<https://v.test/a?cursor=&x=1>; rel="next""#, None),
            (
                r#"<https://v.test/a?cursor=p>; rel="prev"; title="next""#,
                None,
            ),
        ];
        for (link, cursor) in cases {
            assert_eq!(next_param(link, "cursor").as_deref(), cursor, "{link}");
        }
    }
}
