use super::*;
use crate::ip::parse_networks;
use crate::testing::headers;

fn trusted(nets: &[&str]) -> IpSet {
    parse_networks(nets).unwrap().into_iter().collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn xff(peer: &str, values: &[&str], proxies: &[&str]) -> Result<IpAddr, Rejection> {
    let pairs: Vec<_> = values.iter().map(|v| ("x-forwarded-for", *v)).collect();
    client_behind_proxies(
        ip(peer),
        &headers(&pairs),
        ForwardedHeader::XForwardedFor,
        &trusted(proxies),
    )
}

fn fwd(peer: &str, values: &[&str], proxies: &[&str]) -> Result<IpAddr, Rejection> {
    let pairs: Vec<_> = values.iter().map(|v| ("forwarded", *v)).collect();
    client_behind_proxies(
        ip(peer),
        &headers(&pairs),
        ForwardedHeader::Forwarded,
        &trusted(proxies),
    )
}

#[test]
fn first_untrusted_hop_from_the_right_is_the_client() {
    let got = xff(
        "10.0.0.1",
        &["6.6.6.6, 203.0.113.7, 10.0.0.2"],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("203.0.113.7"));
}

#[test]
fn client_written_entries_left_of_the_client_are_never_read() {
    // The spoofed and the unparsable entries sit left of the real client.
    let got = xff(
        "10.0.0.1",
        &["1.1.1.1, not-an-ip, 203.0.113.7"],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("203.0.113.7"));
}

#[test]
fn several_header_lines_are_one_list() {
    let got = xff(
        "10.0.0.1",
        &["203.0.113.7", "10.0.0.3, 10.0.0.2"],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("203.0.113.7"));
}

#[test]
fn all_trusted_hops_make_the_farthest_one_the_client() {
    let got = xff("10.0.0.1", &["10.0.0.9, 10.0.0.2"], &["10.0.0.0/8"]);
    assert_eq!(got.unwrap(), ip("10.0.0.9"));
    assert_eq!(
        xff("10.0.0.1", &[], &["10.0.0.0/8"]).unwrap(),
        ip("10.0.0.1")
    );
}

#[test]
fn ports_brackets_empty_elements_and_mapped_addresses_are_understood() {
    let p = &["10.0.0.0/8"];
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7:4711"], p).unwrap(),
        ip("203.0.113.7")
    );
    assert_eq!(
        xff("10.0.0.1", &["[2001:db8::1]:443"], p).unwrap(),
        ip("2001:db8::1")
    );
    assert_eq!(
        xff("10.0.0.1", &["[2001:db8::1]"], p).unwrap(),
        ip("2001:db8::1")
    );
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7,, "], p).unwrap(),
        ip("203.0.113.7")
    );
    assert_eq!(
        xff("10.0.0.1", &["::ffff:203.0.113.7"], p).unwrap(),
        ip("203.0.113.7")
    );
    // A trusted hop written as mapped IPv6 is still trusted.
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7, ::ffff:10.0.0.2"], p).unwrap(),
        ip("203.0.113.7")
    );
}

#[test]
fn malformed_entry_that_must_be_read_is_refused() {
    let err = xff(
        "10.0.0.1",
        &["203.0.113.7, garbage, 10.0.0.2"],
        &["10.0.0.0/8"],
    )
    .unwrap_err();
    assert_eq!(err.status, StatusCode::BAD_REQUEST);
    assert_eq!(err.reason, Reason::MalformedHeader);
    assert!(err.message.contains("x-forwarded-for"), "{}", err.message);
    assert!(
        err.message.contains("entry 2 from the right"),
        "{}",
        err.message
    );
    assert!(err.message.contains("\"garbage\""), "{}", err.message);
    for bad in ["fe80::1%eth0", "1.2.3", "[1.2.3.4]x", "unknown"] {
        assert!(xff("10.0.0.1", &[bad], &["10.0.0.0/8"]).is_err(), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn dotted_quad_fast_path_agrees_with_std(text in "[0-9.]{0,17}") {
        if let Some(fast) = parse_dotted_quad(text.as_bytes()) {
            proptest::prop_assert_eq!(Some(fast), text.parse::<Ipv4Addr>().ok());
        }
    }

    #[test]
    fn dotted_quad_fast_path_reads_every_address(raw: u32) {
        let addr = Ipv4Addr::from(raw);
        proptest::prop_assert_eq!(parse_dotted_quad(addr.to_string().as_bytes()), Some(addr));
    }
}

#[test]
fn list_elements_come_last_first_and_trimmed() {
    let got: Vec<_> = ListBackwards(Some(b" a ,b,, \tc ")).collect();
    assert_eq!(got, [&b"c"[..], b"", b"b", b"a"]);
    assert_eq!(ListBackwards(Some(b"")).collect::<Vec<_>>(), [b""]);
}

#[test]
fn dotted_quad_fast_path_refuses_what_std_refuses() {
    for text in [
        "01.2.3.4",
        "1.2.3.256",
        "1.2.3",
        "1.2.3.4.",
        ".1.2.3",
        "1..2.3",
        "1.2.3.0004",
        "1.2.3.4.5",
        "1.2.3.4.5.6",
        "1.2.3.99999",
        "256.1.1.1",
        "1.2.3.65536",
        "",
    ] {
        assert_eq!(parse_dotted_quad(text.as_bytes()), None, "{text}");
        assert!(text.parse::<Ipv4Addr>().is_err(), "{text}");
    }
    assert_eq!(parse_dotted_quad(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
}

#[test]
fn non_ascii_bytes_matter_only_where_the_walk_must_read() {
    let mut map = HeaderMap::new();
    let value = http::HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.7").unwrap();
    map.insert("x-forwarded-for", value);
    let trusted = trusted(&["10.0.0.0/8"]);
    let xff = ForwardedHeader::XForwardedFor;
    let got = client_behind_proxies(ip("10.0.0.1"), &map, xff, &trusted);
    assert_eq!(got.unwrap(), ip("203.0.113.7"));
    let value = http::HeaderValue::from_bytes(b"203.0.113.7, 10.0.0.\xff").unwrap();
    map.insert("x-forwarded-for", value);
    let err = client_behind_proxies(ip("10.0.0.1"), &map, xff, &trusted).unwrap_err();
    assert_eq!(err.reason, Reason::MalformedHeader);
    assert!(
        err.message.contains("entry 1 from the right"),
        "{}",
        err.message
    );
}

#[test]
fn forwarded_reads_for_parameters_right_to_left() {
    // The examples of RFC 7239 §4 and §7.1, behind our proxy at 10.0.0.2.
    let got = fwd(
        "10.0.0.1",
        &[
            r#"for=192.0.2.43, for="[2001:db8:cafe::17]";proto=http;by=203.0.113.43"#,
            "For=\"10.0.0.2:8080\"",
        ],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("2001:db8:cafe::17"));
    let got = fwd(
        "10.0.0.1",
        &["for=192.0.2.60;proto=http;by=203.0.113.43"],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.60"));
    // A quoted comma inside a parameter does not split elements.
    let got = fwd(
        "10.0.0.1",
        &[r#"for=192.0.2.60;ext="a,b""#],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.60"));
}

#[test]
fn forwarded_without_a_usable_for_is_refused() {
    let p = &["10.0.0.0/8"];
    for bad in [
        "for=unknown",
        "for=_hidden",
        "proto=https;by=10.0.0.2",
        "for=192.0.2.1;for=192.0.2.2",
        "for=\"192.0.2.1",
        "for=\"192.0.2.1\\\"\"",
        "for",
    ] {
        let err = fwd("10.0.0.1", &[bad], p).unwrap_err();
        assert_eq!(err.reason, Reason::MalformedHeader, "{bad}");
        assert!(err.message.starts_with("forwarded "), "{}", err.message);
    }
}

// The quoted-string rules of RFC 7230 §3.2.6 as `Forwarded` uses them: these pin each
// branch of `split_outside_quotes` and `unquote` (mutation testing found them untested).

#[test]
fn an_escaped_quote_does_not_end_a_quoted_string() {
    // `\"` stays inside the quotes, so the comma after it does not split elements.
    let got = fwd(
        "10.0.0.1",
        &[r#"for=192.0.2.60;ext="a\",b""#],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.60"));
}

#[test]
fn an_escape_covers_one_character_only() {
    // After `\"` the string goes on and ends at the next quote; the comma then splits.
    let got = fwd(
        "10.0.0.1",
        &[r#"for=192.0.2.60;ext="a\"b", for=192.0.2.61"#],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.61"));
}

#[test]
fn a_backslash_outside_quotes_escapes_nothing() {
    let got = fwd(
        "10.0.0.1",
        &[r#"for=192.0.2.60;ext=a\,for=192.0.2.61"#],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.61"));
}

#[test]
fn a_semicolon_inside_quotes_does_not_split_parameters() {
    // Split there, the element would have two for= parameters and be refused.
    let got = fwd(
        "10.0.0.1",
        &[r#"for=192.0.2.60;ext="x;for=192.0.2.99""#],
        &["10.0.0.0/8"],
    );
    assert_eq!(got.unwrap(), ip("192.0.2.60"));
}

#[test]
fn an_escaped_for_value_is_refused_even_left_of_the_client() {
    // Never unescaped: the whole header is refused, though the walk stops before it.
    let err = fwd(
        "10.0.0.1",
        &[r#"for="192.0.2\.1", for=192.0.2.61"#],
        &["10.0.0.0/8"],
    )
    .unwrap_err();
    assert_eq!(err.reason, Reason::MalformedHeader);
    assert!(
        err.message.contains("not a plain quoted address"),
        "{}",
        err.message
    );
}
