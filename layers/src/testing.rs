//! Helpers shared by every module's unit tests, whichever features are on.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Builds a header map, keeping repeated names as repeated values.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}
