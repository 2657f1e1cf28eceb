//! The provider schemes, one per file, and the list that names them.
//!
//! Adding a provider: one new file here and one line in [`by_name`] and [`NAMES`].

use std::sync::Arc;

use super::scheme::Scheme;

pub mod bitbucket;
#[cfg(feature = "ed25519")]
#[cfg_attr(docsrs, doc(cfg(feature = "ed25519")))]
pub mod discord;
pub mod github;
pub mod gitlab;
pub mod hmac;
pub mod intercom;
pub mod linear;
pub mod mailgun;
pub mod paddle;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod stripe;
pub mod twilio;
pub mod twitch;
pub mod zoom;

/// Every scheme name, as written in configuration and on the command line. `discord`
/// only with the `ed25519` feature.
pub const NAMES: &[&str] = &[
    "github",
    "github-sha1",
    "bitbucket",
    "intercom",
    "stripe",
    "slack",
    "standard-webhooks",
    "shopify",
    "square",
    "zoom",
    "twitch",
    "twilio",
    "paddle",
    "gitlab",
    "mailgun",
    "linear",
    #[cfg(feature = "ed25519")]
    "discord",
    "hmac",
];

/// The scheme called `name`, with its provider's defaults. `hmac` is the generic scheme
/// with its default options (see [`hmac::HmacScheme::generic_default`]).
pub fn by_name(name: &str) -> Option<Arc<dyn Scheme>> {
    Some(match name {
        "github" => Arc::new(github::github()),
        "github-sha1" => Arc::new(github::github_sha1()),
        "bitbucket" => Arc::new(bitbucket::bitbucket()),
        "intercom" => Arc::new(intercom::intercom()),
        "stripe" => Arc::new(stripe::Stripe),
        "slack" => Arc::new(slack::slack()),
        "standard-webhooks" => Arc::new(standard_webhooks::StandardWebhooks),
        "shopify" => Arc::new(shopify::shopify()),
        "square" => Arc::new(square::square()),
        "zoom" => Arc::new(zoom::zoom()),
        "twitch" => Arc::new(twitch::twitch()),
        "twilio" => Arc::new(twilio::Twilio),
        "paddle" => Arc::new(paddle::Paddle),
        "gitlab" => Arc::new(gitlab::Gitlab),
        "mailgun" => Arc::new(mailgun::Mailgun),
        "linear" => Arc::new(linear::Linear),
        #[cfg(feature = "ed25519")]
        "discord" => Arc::new(discord::Discord),
        "hmac" => Arc::new(hmac::HmacScheme::generic_default()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_built_for_the_schemes_that_sign_it() {
        let signs_url = |name: &str| by_name(name).unwrap().signs_url();
        assert!(signs_url("twilio"));
        assert!(signs_url("square"));
        assert!(!signs_url("github"));
        assert!(!signs_url("shopify"));
    }

    #[test]
    fn every_listed_name_builds_a_scheme_of_that_name() {
        for name in NAMES {
            let scheme = by_name(name).unwrap_or_else(|| panic!("{name} is listed but not built"));
            assert_eq!(scheme.name(), *name);
        }
        assert!(by_name("githubb").is_none());
    }
}
