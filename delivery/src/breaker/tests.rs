use std::time::Duration;

use super::*;

/// A fake clock: the tests move it by hand.
struct Clock(Timestamp);

impl Clock {
    fn now(&self) -> Timestamp {
        self.0
    }
    fn advance(&mut self, by: Duration) {
        self.0 = self.0.add(by);
    }
}

fn clock() -> Clock {
    Clock(Timestamp(1_700_000_000_000))
}

fn consecutive(n: u32) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: n,
        failure_rate: 0.0,
        ..BreakerConfig::default()
    }
}

fn attempt(breaker: &mut Breaker, now: Timestamp, failed: bool) {
    let permit = breaker.admit(now).expect("admitted");
    breaker.record(permit, now, failed);
}

fn open_breaker(clock: &Clock) -> Breaker {
    let mut breaker = Breaker::new(consecutive(3));
    for _ in 0..3 {
        attempt(&mut breaker, clock.now(), true);
    }
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    breaker
}

#[test]
fn opens_after_n_consecutive_failures() {
    let clock = clock();
    let mut breaker = Breaker::new(consecutive(3));
    attempt(&mut breaker, clock.now(), true);
    attempt(&mut breaker, clock.now(), true);
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
    attempt(&mut breaker, clock.now(), true);
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    assert!(breaker.admit(clock.now()).is_none());
}

#[test]
fn a_success_resets_the_consecutive_count() {
    let clock = clock();
    let mut breaker = Breaker::new(consecutive(3));
    for failed in [true, true, false, true, true] {
        attempt(&mut breaker, clock.now(), failed);
    }
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
}

fn by_rate() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 0,
        failure_rate: 0.5,
        window: Duration::from_secs(10),
        min_requests: 10,
        cool_down: Duration::from_secs(30),
    }
}

#[test]
fn opens_on_failure_rate_once_min_requests_are_in_the_window() {
    let mut clock = clock();
    let mut breaker = Breaker::new(by_rate());
    // Alternating: 50 % failures, never two in a row.
    for i in 0..9 {
        attempt(&mut breaker, clock.now(), i % 2 == 0);
        clock.advance(Duration::from_millis(100));
    }
    // 5 of 9 failed, but 9 < min_requests.
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
    attempt(&mut breaker, clock.now(), false);
    // 5 of 10: at the rate.
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
}

#[test]
fn a_rate_below_the_threshold_stays_closed() {
    let mut clock = clock();
    let mut breaker = Breaker::new(by_rate());
    for i in 0..40 {
        attempt(&mut breaker, clock.now(), i % 3 == 0);
        clock.advance(Duration::from_millis(50));
    }
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
}

#[test]
fn failures_older_than_the_window_do_not_count() {
    let mut clock = clock();
    let mut breaker = Breaker::new(by_rate());
    // 9 failures (under min_requests), then the window moves on past them.
    for _ in 0..9 {
        attempt(&mut breaker, clock.now(), true);
    }
    clock.advance(Duration::from_secs(11));
    attempt(&mut breaker, clock.now(), true);
    // 10 failures in all, but only 1 in the window.
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
}

#[test]
fn half_open_after_the_cool_down_admits_exactly_one_probe() {
    let mut clock = clock();
    let mut breaker = open_breaker(&clock);
    clock.advance(Duration::from_secs(29));
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    assert!(breaker.admit(clock.now()).is_none());
    clock.advance(Duration::from_secs(1));
    assert_eq!(breaker.state(clock.now()), BreakerState::HalfOpen);
    let probe = breaker.admit(clock.now()).expect("probe");
    assert!(probe.is_probe());
    assert!(breaker.admit(clock.now()).is_none(), "a second probe");
}

#[test]
fn the_probe_s_success_closes_it() {
    let mut clock = clock();
    let mut breaker = open_breaker(&clock);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.admit(clock.now()).unwrap();
    breaker.record(probe, clock.now(), false);
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
    let permit = breaker.admit(clock.now()).unwrap();
    assert!(!permit.is_probe());
}

#[test]
fn the_probe_s_failure_reopens_it_for_another_cool_down() {
    let mut clock = clock();
    let mut breaker = open_breaker(&clock);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.admit(clock.now()).unwrap();
    breaker.record(probe, clock.now(), true);
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    assert_eq!(
        breaker.open_until(),
        Some(clock.now().add(Duration::from_secs(30)))
    );
}

#[test]
fn a_cancelled_probe_lets_another_go() {
    let mut clock = clock();
    let mut breaker = open_breaker(&clock);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.admit(clock.now()).unwrap();
    breaker.cancel(probe);
    assert!(breaker.admit(clock.now()).unwrap().is_probe());
}

#[test]
fn results_from_before_the_breaker_opened_are_ignored() {
    let mut clock = clock();
    let mut breaker = Breaker::new(consecutive(2));
    // Two attempts go out while closed.
    let late_success = breaker.admit(clock.now()).unwrap();
    let late_failure = breaker.admit(clock.now()).unwrap();
    attempt(&mut breaker, clock.now(), true);
    attempt(&mut breaker, clock.now(), true);
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    assert!(!breaker.still_admits(late_success));
    // A late success does not close it, nor pass for the probe.
    breaker.record(late_success, clock.now(), false);
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.admit(clock.now()).unwrap();
    breaker.record(late_failure, clock.now(), true);
    assert_eq!(breaker.state(clock.now()), BreakerState::HalfOpen);
    breaker.record(probe, clock.now(), false);
    assert_eq!(breaker.state(clock.now()), BreakerState::Closed);
}

#[test]
fn reload_keeps_the_state_and_uses_the_new_cool_down_next_time() {
    let mut clock = clock();
    let mut breaker = open_breaker(&clock);
    breaker.set_config(BreakerConfig {
        cool_down: Duration::from_secs(5),
        ..consecutive(3)
    });
    assert_eq!(breaker.state(clock.now()), BreakerState::Open);
    clock.advance(Duration::from_secs(30));
    let probe = breaker.admit(clock.now()).unwrap();
    breaker.record(probe, clock.now(), true);
    assert_eq!(
        breaker.open_until(),
        Some(clock.now().add(Duration::from_secs(5)))
    );
}

#[test]
fn states_have_names_and_gauge_values() {
    let names: Vec<_> = BreakerState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["closed", "open", "half_open"]);
    let gauges: Vec<_> = BreakerState::ALL.iter().map(|s| s.as_gauge()).collect();
    assert_eq!(gauges, [0, 2, 1]);
}
