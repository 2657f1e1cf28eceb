//! Replays every fuzz corpus file (fuzz/corpus/<target>/*) through the same entry points
//! the cargo-fuzz targets call, so inputs that once crashed stay fixed.

use std::path::Path;

use hookguard_layers::verify::fuzzing;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        count += 1;
    }
    count
}

#[test]
fn stripe_header_corpus() {
    assert!(replay("stripe_header", fuzzing::stripe_header) > 0);
}

#[test]
fn signature_list_corpus() {
    assert!(replay("signature_list", fuzzing::signature_list) > 0);
}

#[test]
fn verify_any_scheme_corpus() {
    assert!(replay("verify_any_scheme", fuzzing::verify_any_scheme) > 0);
}

#[test]
fn paddle_header_corpus() {
    assert!(replay("paddle_header", fuzzing::paddle_header) > 0);
}

#[cfg(feature = "rules")]
#[test]
fn rules_template_corpus() {
    let started = std::time::Instant::now();
    assert!(
        replay(
            "rules_template",
            hookguard_layers::rules::fuzzing::template_and_paths
        ) > 0
    );
    // Deep, wide and self-multiplying inputs stay cheap: the limits hold.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[cfg(feature = "ip")]
#[test]
fn forwarded_corpus() {
    assert!(replay("forwarded", hookguard_layers::ip::fuzzing::forwarded) > 0);
}

#[cfg(feature = "ip")]
#[test]
fn ip_list_corpus() {
    assert!(replay("ip_list", hookguard_layers::ip::fuzzing::ip_list) > 0);
}
