//! RFC 3339 timestamps (`2019-11-16T10:11:12.634234626Z`, `…+01:00`) to and from Unix
//! seconds, for the schemes that sign one (Twitch, the generic `hmac` scheme).
//!
//! Written here rather than taken from `time`: that crate and its companions were five of
//! the `verify` feature's crates, for two functions. The tests compare both functions with
//! `time` on generated input.

/// Seconds since the Unix epoch of an RFC 3339 `date-time` (RFC 3339 §5.6): `T`/`t`
/// between date and time, an optional fraction (ignored: whole seconds, rounded down),
/// `Z`/`z` or a `±HH:MM` offset. Leap seconds (`:60`) are refused. `None` when `text` is
/// not such a timestamp.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let at = |i: usize, expected: &[u8]| b.get(i).is_some_and(|c| expected.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(local - offset)
}

/// `unix` seconds as `YYYY-MM-DDTHH:MM:SSZ`; `None` outside the years 0000 to 9999.
pub(crate) fn format(unix: i64) -> Option<String> {
    let (days, second_of_day) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
    ))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days from 1970-01-01 to a proleptic Gregorian date, and back: Howard Hinnant's
// `days_from_civil` / `civil_from_days` (http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    fn by_time(text: &str) -> Option<i64> {
        OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    }

    #[test]
    fn known_timestamps() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2019-11-16T10:11:12.634234626Z"), Some(1_573_899_072));
        assert_eq!(parse("2019-11-16t11:11:12+01:00"), Some(1_573_899_072));
        assert_eq!(parse("1969-12-31T23:59:59.999z"), Some(-1));
        assert_eq!(parse("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2019-11-16 10:11:12Z",
            "2019-11-16T10:11:12",
            "2019-11-16T10:11:12.Z",
            "2019-11-16T24:00:00Z",
            "2019-11-16T10:11:12+0100",
            "2019-11-16T10:11:60Z",
            "+019-11-16T10:11:12Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(format(1_573_899_072).unwrap(), "2019-11-16T10:11:12Z");
        assert_eq!(format(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(format(253_402_300_800), None); // year 10000
    }

    // Each field drawn from a range a little wider than the valid one, so that both
    // accepted and refused timestamps are compared.
    fn timestamp() -> impl Strategy<Value = String> {
        let date = (0u32..10000, 0u32..14, 0u32..33);
        let clock = (0u32..26, 0u32..62, 0u32..60);
        let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{0,12}"];
        let offset = prop_oneof![
            Just("Z".to_owned()),
            Just("z".to_owned()),
            (prop_oneof![Just('+'), Just('-')], 0u32..26, 0u32..62)
                .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
        ];
        (
            date,
            prop_oneof![Just('T'), Just('t')],
            clock,
            fraction,
            offset,
        )
            .prop_map(|((y, mo, d), t, (h, mi, s), fraction, offset)| {
                format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{fraction}{offset}")
            })
    }

    proptest! {
        #[test]
        fn parse_agrees_with_the_time_crate(text in timestamp()) {
            prop_assert_eq!(parse(&text), by_time(&text), "{}", text);
        }

        #[test]
        fn format_agrees_with_the_time_crate(unix in -62_167_219_200i64..253_402_300_800) {
            let expected = OffsetDateTime::from_unix_timestamp(unix).unwrap().format(&Rfc3339).unwrap();
            prop_assert_eq!(format(unix).unwrap(), expected);
        }
    }
}
