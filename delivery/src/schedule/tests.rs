use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::message::ErrorKind;

const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn exact() -> Schedule {
    Schedule::default().with_jitter(|max: Duration| max)
}

fn status(code: u16) -> AttemptOutcome {
    AttemptOutcome::Status {
        code,
        retry_after: None,
        body: None,
    }
}

fn status_retry_after(code: u16, value: &str) -> AttemptOutcome {
    AttemptOutcome::Status {
        code,
        retry_after: Some(value.into()),
        body: None,
    }
}

fn error(kind: ErrorKind) -> AttemptOutcome {
    AttemptOutcome::Error {
        kind,
        detail: "boom".into(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn retry_delay(decision: Decision) -> Duration {
    match decision {
        Decision::Retry { at, delay } => {
            assert_eq!(at, NOW.add(delay), "at and delay disagree");
            delay
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn dead(decision: Decision) -> DeadReason {
    match decision {
        Decision::Dead(reason) => reason,
        other => panic!("expected dead, got {other:?}"),
    }
}

#[test]
fn default_delays_are_the_documented_ones() {
    let expected = [
        5,
        30,
        120,
        600,
        1800,
        3600,
        7200,
        4 * 3600,
        8 * 3600,
        10 * 3600,
    ];
    let schedule = exact();
    for (i, s) in expected.iter().enumerate() {
        assert_eq!(
            schedule.base_delay(i as u32 + 1),
            secs(*s),
            "retry {}",
            i + 1
        );
    }
}

#[test]
fn past_the_list_the_last_delay_repeats() {
    let schedule = Schedule::new(vec![secs(1), secs(2)]).unwrap();
    assert_eq!(schedule.base_delay(2), secs(2));
    assert_eq!(schedule.base_delay(7), secs(2));
}

#[test]
fn empty_schedule_is_refused() {
    assert_eq!(Schedule::new(Vec::new()).unwrap_err(), EmptySchedule);
}

#[test]
fn every_2xx_is_delivered() {
    for code in [200, 201, 202, 204, 299] {
        assert_eq!(
            exact().decide(&status(code), 1, 5, NOW),
            Decision::Delivered
        );
    }
}

#[test]
fn connection_errors_dns_timeouts_5xx_408_429_are_retried() {
    let mut outcomes: Vec<AttemptOutcome> = [
        ErrorKind::Connect,
        ErrorKind::Dns,
        ErrorKind::Timeout,
        ErrorKind::Tls,
        ErrorKind::Protocol,
    ]
    .into_iter()
    .map(error)
    .collect();
    outcomes.extend([500, 502, 503, 504, 599, 408, 429, 301, 302].map(status));
    for outcome in outcomes {
        assert_eq!(verdict(&outcome), Verdict::Retryable, "{outcome:?}");
        assert_eq!(retry_delay(exact().decide(&outcome, 1, 5, NOW)), secs(5));
    }
}

#[test]
fn a_refusal_by_policy_is_dead_at_once_and_says_it_was_not_sent() {
    let outcome = error(ErrorKind::Refused);
    assert_eq!(verdict(&outcome), Verdict::Rejected);
    match exact().decide(&outcome, 1, 5, NOW) {
        Decision::Dead(reason) => {
            assert_eq!(reason.code, DeadCode::Rejected);
            assert_eq!(reason.detail, "not sent: refused: boom");
        }
        other => panic!("expected dead at once, got {other:?}"),
    }
}

#[test]
fn other_4xx_is_dead_at_once_naming_the_status() {
    for (code, text) in [
        (400, "400 Bad Request"),
        (401, "401 Unauthorized"),
        (404, "404 Not Found"),
        (410, "410 Gone"),
        (422, "422 Unprocessable Entity"),
        (499, "499"),
    ] {
        let reason = dead(exact().decide(&status(code), 1, 5, NOW));
        assert_eq!(reason.code, DeadCode::Rejected);
        assert_eq!(reason.detail, format!("the destination answered {text}"));
    }
}

#[test]
fn a_4xx_on_the_last_attempt_is_still_rejected_not_exhausted() {
    assert_eq!(
        dead(exact().decide(&status(404), 6, 5, NOW)).code,
        DeadCode::Rejected
    );
}

#[test]
fn first_attempt_plus_max_retries_then_dead_with_the_last_outcome() {
    let schedule = exact();
    for attempt in 1..=5 {
        assert_eq!(
            retry_delay(schedule.decide(&status(503), attempt, 5, NOW)),
            schedule.base_delay(attempt)
        );
    }
    let reason = dead(schedule.decide(&status(503), 6, 5, NOW));
    assert_eq!(reason.code, DeadCode::RetriesExhausted);
    assert_eq!(reason.detail, "6 attempts, last: 503 Service Unavailable");

    let reason = dead(schedule.decide(&error(ErrorKind::Timeout), 2, 1, NOW));
    assert_eq!(reason.detail, "2 attempts, last: timeout: boom");
}

#[test]
fn full_jitter_stays_within_zero_and_the_delay_and_spreads() {
    let schedule = Schedule::default().with_jitter(FullJitter::seeded(7));
    let picks: Vec<Duration> = (0..200).map(|_| schedule.delay(2, None)).collect();
    assert!(picks.iter().all(|d| *d <= secs(30)));
    // Uniform over [0, 30 s]: both halves are hit, not a floor-plus-noise.
    assert!(picks.iter().any(|d| *d < secs(5)));
    assert!(picks.iter().any(|d| *d > secs(25)));
}

#[test]
fn seeded_jitter_is_reproducible() {
    let a = Schedule::default().with_jitter(FullJitter::seeded(42));
    let b = Schedule::default().with_jitter(FullJitter::seeded(42));
    for retry in 1..=10 {
        assert_eq!(a.delay(retry, None), b.delay(retry, None));
    }
}

#[test]
fn injected_jitter_decides_the_delay() {
    let half = Schedule::default().with_jitter(|max: Duration| max / 2);
    assert_eq!(retry_delay(half.decide(&status(500), 2, 5, NOW)), secs(15));
    // A jitter that overshoots is held to the delay.
    let greedy = Schedule::default().with_jitter(|max: Duration| max * 3);
    assert_eq!(greedy.delay(1, None), secs(5));
}

#[test]
fn retry_after_seconds_is_honoured_without_jitter() {
    let schedule = Schedule::default().with_jitter(|_| Duration::ZERO);
    let delay = retry_delay(schedule.decide(&status_retry_after(429, "7"), 1, 5, NOW));
    assert_eq!(delay, secs(7));
}

#[test]
fn retry_after_shorter_than_the_schedule_is_raised_to_it() {
    // Retry 2's delay is 30 s: a Retry-After of 7 s does not bring it forward.
    let delay = retry_delay(exact().decide(&status_retry_after(503, "7"), 2, 5, NOW));
    assert_eq!(delay, secs(30));
}

#[test]
fn retry_after_is_capped_at_a_day() {
    for value in ["172800", "99999999999999999999999"] {
        let delay = retry_delay(exact().decide(&status_retry_after(429, value), 1, 5, NOW));
        assert_eq!(delay, MAX_RETRY_AFTER, "{value}");
    }
}

#[test]
fn retry_after_http_date_is_honoured() {
    let at = UNIX_EPOCH + Duration::from_millis(NOW.0) + secs(90);
    let value = httpdate::fmt_http_date(at);
    assert_eq!(parse_retry_after(&value, NOW), Some(secs(90)));
    let delay = retry_delay(exact().decide(&status_retry_after(503, &value), 1, 5, NOW));
    assert_eq!(delay, secs(90));
}

#[test]
fn retry_after_in_the_past_or_garbage_falls_back_to_the_schedule() {
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", NOW), None);
    assert_eq!(parse_retry_after("-5", NOW), None);
    assert_eq!(parse_retry_after("", NOW), None);
    for value in ["Wed, 21 Oct 2015 07:28:00 GMT", "soon", "1.5"] {
        let delay = retry_delay(exact().decide(&status_retry_after(503, value), 1, 5, NOW));
        assert_eq!(delay, secs(5), "{value}");
    }
}

#[test]
fn retry_after_on_a_schedule_longer_than_a_day_keeps_the_schedule() {
    let schedule = Schedule::new(vec![secs(48 * 3600)]).unwrap();
    assert_eq!(schedule.delay(1, Some(secs(10))), secs(48 * 3600));
}
