//! RFC 3339 timestamps, UTC: the one place hookguard formats them (the admin API, the
//! alerts, the sandbox, outbound envelopes, the migration report, the sidecar's head and
//! access log).

use std::time::SystemTime;

/// Unix milliseconds (hookguard's stored times), with as many fraction digits as they need.
pub(crate) fn unix_ms(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The current time, to the nanosecond.
pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The length of [`micros`]' text: `2026-12-01T02:40:13.123456Z`.
pub(crate) const MICROS_LEN: usize = 27;

/// The length of the part of [`micros`]' text that changes once a second:
/// `2026-12-01T02:40:13.`.
const SECOND_LEN: usize = 20;

thread_local! {
    /// The last second [`micros`] formatted on this thread, and its text.
    static SECOND: std::cell::Cell<Option<(u64, [u8; SECOND_LEN])>> =
        const { std::cell::Cell::new(None) };
}

/// `at` with microseconds, written into `buf` (no allocation: the sidecar writes two per
/// request, in the app's head and the access log). The date and time of day are formatted
/// (by humantime) once per second per thread; within that second only the microseconds
/// are written.
pub(crate) fn micros(at: SystemTime, buf: &mut [u8; MICROS_LEN]) -> &str {
    let Ok(since_epoch) = at.duration_since(SystemTime::UNIX_EPOCH) else {
        return humantime_micros(at, buf);
    };
    let second = since_epoch.as_secs();
    match SECOND.get() {
        Some((cached, text)) if cached == second => {
            buf[..SECOND_LEN].copy_from_slice(&text);
            let mut fraction = since_epoch.subsec_micros();
            for digit in buf[SECOND_LEN..MICROS_LEN - 1].iter_mut().rev() {
                *digit = b'0' + (fraction % 10) as u8;
                fraction /= 10;
            }
            buf[MICROS_LEN - 1] = b'Z';
            std::str::from_utf8(&buf[..]).unwrap_or_default()
        }
        _ => {
            let text = humantime_micros(at, buf);
            if text.len() == MICROS_LEN {
                let mut prefix = [0u8; SECOND_LEN];
                prefix.copy_from_slice(&text.as_bytes()[..SECOND_LEN]);
                SECOND.set(Some((second, prefix)));
            }
            text
        }
    }
}

fn humantime_micros(at: SystemTime, buf: &mut [u8; MICROS_LEN]) -> &str {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // Dates after year 9999 do not fit: humantime cannot format them either.
    let _ = write!(cursor, "{}", humantime::format_rfc3339_micros(at));
    let written = cursor.position() as usize;
    std::str::from_utf8(&buf[..written]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn micros_writes_utc_with_microseconds_into_the_buffer() {
        let mut buf = [0u8; MICROS_LEN];
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_556_813_123_456);
        assert_eq!(micros(at, &mut buf), "2025-12-01T02:40:13.123456Z");
        let mut buf = [0u8; MICROS_LEN];
        assert_eq!(
            micros(SystemTime::UNIX_EPOCH, &mut buf),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn micros_within_a_second_and_across_seconds_match_humantime() {
        // Steps of 0.37 s from a day boundary: the same second twice, then the next, and
        // every microsecond digit position used.
        let start = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_547_199_000_001);
        for step in 0..40u64 {
            let at = start + Duration::from_micros(step * 370_013);
            let mut buf = [0u8; MICROS_LEN];
            let mut expected = [0u8; MICROS_LEN];
            assert_eq!(micros(at, &mut buf), humantime_micros(at, &mut expected));
        }
        // An earlier second after a later one (the clock stepped back) is formatted anew.
        let mut buf = [0u8; MICROS_LEN];
        micros(start + Duration::from_secs(5), &mut buf);
        let mut buf = [0u8; MICROS_LEN];
        assert_eq!(micros(start, &mut buf), "2025-11-30T23:59:59.000001Z");
    }

    #[test]
    fn unix_ms_shows_the_fraction_only_when_there_is_one() {
        assert_eq!(unix_ms(1_764_556_813_000), "2025-12-01T02:40:13Z");
        assert_eq!(unix_ms(1_764_556_813_120), "2025-12-01T02:40:13.12Z");
    }
}
