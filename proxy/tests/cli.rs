//! The `hookguard verify` / `sign` interface, exactly as other tools call it.

use std::process::{Command, Output};

fn hookguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookguard"))
        .args(args)
        .output()
        .expect("run hookguard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_HEADER: &str =
    "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn verify_valid_prints_valid_and_the_matched_index() {
    let o = hookguard(&[
        "verify",
        "--scheme",
        "github",
        "--secret",
        "old",
        "--secret",
        GITHUB_SECRET,
        "--header",
        GITHUB_HEADER,
        "--body",
        "Hello, World!",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).starts_with("valid secret_index=1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_tampered_body_exits_1_with_reason() {
    let o = hookguard(&[
        "verify",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--header",
        GITHUB_HEADER,
        "--body",
        "Hello, World?",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "invalid: signature mismatch");
}

#[test]
fn verify_missing_header_exits_1_naming_it() {
    let o = hookguard(&[
        "verify",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--body",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).trim(),
        "invalid: missing header x-hub-signature-256"
    );
}

#[test]
fn verify_reads_the_body_file_exactly() {
    let dir = std::env::temp_dir().join(format!("hookguard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("body");
    std::fs::write(&path, b"Hello, World!").unwrap();
    let o = hookguard(&[
        "verify",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--header",
        GITHUB_HEADER,
        "--body-file",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn usage_errors_and_unusable_secrets_exit_2() {
    for args in [
        &["verify", "--scheme", "nope", "--secret", "s", "--body", "x"][..],
        &["verify", "--scheme", "github", "--secret", "s"][..],
        &[
            "verify",
            "--scheme",
            "github",
            "--secret",
            "s",
            "--body",
            "x",
            "--body-file",
            "/x",
        ][..],
        &[
            "verify", "--scheme", "github", "--secret", "s", "--header", "no colon", "--body", "x",
        ][..],
        &[
            "verify",
            "--scheme",
            "github",
            "--secret",
            "s",
            "--body-file",
            "/nonexistent/file",
        ][..],
        &[
            "verify",
            "--scheme",
            "standard-webhooks",
            "--secret",
            "whsec_***",
            "--body",
            "x",
        ][..],
        &[
            "sign",
            "--scheme",
            "standard-webhooks",
            "--secret",
            "whsec_not base64!",
            "--body",
            "x",
        ][..],
        &[
            "verify", "--scheme", "github", "--secret", "", "--body", "x",
        ][..],
    ] {
        let o = hookguard(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
        assert!(!o.stderr.is_empty(), "{args:?}: no explanation");
    }
}

#[test]
fn unusable_secret_error_says_what_was_expected_without_echoing_it() {
    let o = hookguard(&[
        "verify",
        "--scheme",
        "standard-webhooks",
        "--secret",
        "whsec_s3cr3t-value!",
        "--body",
        "x",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("whsec_<base64>"), "{err}");
    assert!(!err.contains("s3cr3t"), "secret echoed: {err}");
}

/// Signs with `sign`, then verifies the printed headers with `verify`.
fn round_trip(
    scheme: &str,
    secret: &str,
    extra: &[&str],
    verify_only: &[&str],
    now: &str,
) -> Output {
    let mut sign_args = vec![
        "sign",
        "--scheme",
        scheme,
        "--secret",
        secret,
        "--body",
        "{\"id\":\"evt_9\"}",
        "--timestamp",
        "1700000000",
    ];
    sign_args.extend_from_slice(extra);
    let signed = hookguard(&sign_args);
    assert_eq!(signed.status.code(), Some(0), "{signed:?}");
    let text = stdout(&signed);
    let mut verify_args = vec![
        "verify",
        "--scheme",
        scheme,
        "--secret",
        secret,
        "--body",
        "{\"id\":\"evt_9\"}",
        "--now",
        now,
    ];
    verify_args.extend_from_slice(extra);
    verify_args.extend_from_slice(verify_only);
    for line in text.lines().filter(|l| !l.is_empty()) {
        verify_args.push("--header");
        verify_args.push(line);
    }
    hookguard(&verify_args)
}

#[test]
fn sign_output_verifies_and_now_controls_the_window() {
    let o = round_trip("stripe", "whsec_abc", &[], &[], "1700000100");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("delivery_id=evt_9"), "{}", stdout(&o));
    let o = round_trip("stripe", "whsec_abc", &[], &[], "1700000301");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("timestamp outside the tolerance window: 301 s old"),
        "{}",
        stdout(&o)
    );
    let o = round_trip(
        "stripe",
        "whsec_abc",
        &[],
        &["--tolerance", "400"],
        "1700000301",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = round_trip(
        "standard-webhooks",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &[],
        &[],
        "1699999990",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

#[test]
fn sign_prints_provider_header_names() {
    let o = hookguard(&[
        "sign",
        "--scheme",
        "github",
        "--secret",
        GITHUB_SECRET,
        "--body",
        "Hello, World!",
        "--id",
        "abc",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\nX-Github-Delivery: abc\n"
    );
}

#[test]
fn generic_hmac_options_on_the_command_line() {
    let o = round_trip(
        "hmac",
        "k",
        &[
            "--hmac-header",
            "X-Sig",
            "--hmac-algorithm",
            "sha512",
            "--hmac-encoding",
            "base64",
            "--hmac-prefix",
            "",
        ],
        &[],
        "1700000000",
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = hookguard(&[
        "sign",
        "--scheme",
        "github",
        "--hmac-header",
        "X",
        "--secret",
        "k",
        "--body",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// A Standard Webhooks secret whose base64 has lost its padding (32 bytes: one `=` dropped).
const UNPADDED_SECRET: &str = "whsec_FPAsQnHHZMfp/KVdBo+3fhll1fqWjLXFusokW26F6gs";

#[test]
fn unpadded_standard_webhooks_secret_signs_verifies_and_checks() {
    // Computed with openssl over `msg_1.1700000000.{"id":"evt_9"}`, not by hookguard.
    let o = hookguard(&[
        "verify",
        "--scheme",
        "standard-webhooks",
        "--secret",
        UNPADDED_SECRET,
        "--header",
        "webhook-id: msg_1",
        "--header",
        "webhook-timestamp: 1700000000",
        "--header",
        "webhook-signature: v1,65ojkfhfPKgs5YT4MGnHFZHUI87FDCn/lRoVu9gLT2I=",
        "--body",
        "{\"id\":\"evt_9\"}",
        "--now",
        "1700000000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = round_trip("standard-webhooks", UNPADDED_SECRET, &[], &[], "1700000000");
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.toml");
    std::fs::write(
        &path,
        format!(
            "upstream.address = \"127.0.0.1:3000\"\n\
             [[routes]]\n\
             id = \"svix\"\n\
             match.path = \"/svix\"\n\
             scheme = \"standard-webhooks\"\n\
             secrets = [{{ id = \"p\", value = \"{UNPADDED_SECRET}\" }}]\n"
        ),
    )
    .unwrap();
    let o = hookguard(&["check", "-c", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}
