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

/// `at` with microseconds, written into `buf` (no allocation: the sidecar writes two per
/// request, in the app's head and the access log).
pub(crate) fn micros(at: SystemTime, buf: &mut [u8; MICROS_LEN]) -> &str {
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
    fn unix_ms_shows_the_fraction_only_when_there_is_one() {
        assert_eq!(unix_ms(1_764_556_813_000), "2025-12-01T02:40:13Z");
        assert_eq!(unix_ms(1_764_556_813_120), "2025-12-01T02:40:13.12Z");
    }
}
