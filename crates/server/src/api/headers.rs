//! Security headers on every answer, API and web app alike: a Content-Security-Policy fit for the
//! wasm app, `nosniff`, no referrer, and no framing (clickjacking).

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The policy. What the app needs, and nothing more:
/// - scripts from this origin, plus `'wasm-unsafe-eval'` so the browser may compile the app's
///   WebAssembly (it allows no JavaScript `eval`), plus the hash of each inline script of the
///   served `index.html` (see [`inline_script_hashes`]);
/// - styles from this origin and `'unsafe-inline'`, because the app sets `style` attributes
///   (progress bars, answer colours) and CSP has no hash for attributes; styles cannot run code;
/// - images from anywhere over http(s), `data:` and `blob:`: items are images at any URL;
/// - fetches (the API, the wasm file), workers (the service worker) and the manifest from this
///   origin only; no plugins, no `<base>` elsewhere, forms post only here;
/// - `frame-ancestors 'none'`: nobody frames the app (with `X-Frame-Options: DENY` for old
///   browsers).
pub fn content_security_policy(inline_script_hashes: &[String]) -> String {
    let mut script = String::from("'self' 'wasm-unsafe-eval'");
    for hash in inline_script_hashes {
        script.push_str(&format!(" '{hash}'"));
    }
    format!(
        "default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob: http: https:; connect-src 'self'; worker-src 'self'; \
         manifest-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The `sha256-…` sources of the inline `<script>` elements of `index.html` in `web_dir`.
///
/// Trunk's generated `index.html` starts the app with an inline `<script type="module">` that
/// imports the hashed JS glue and loads the wasm file; its text changes with every build (the
/// file names carry a content hash), so its hash is taken from the file being served, once at
/// start-up. Allowing exactly these scripts keeps `'unsafe-inline'` out of `script-src`: an
/// injected inline script has another hash and does not run.
pub fn inline_script_hashes(web_dir: &Path) -> Vec<String> {
    let Ok(html) = std::fs::read_to_string(web_dir.join("index.html")) else {
        return Vec::new();
    };
    let mut hashes = Vec::new();
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<script") {
        rest = &rest[start..];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let open = &rest[..open_end];
        let body_start = open_end + 1;
        let Some(close) = rest[body_start..].find("</script") else {
            break;
        };
        let body = &rest[body_start..body_start + close];
        if !open.contains(" src=") && !body.is_empty() {
            let digest = Sha256::digest(body.as_bytes());
            hashes.push(format!(
                "sha256-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &rest[body_start + close..];
    }
    hashes
}

/// Adds the headers to `res` (`csp` is [`content_security_policy`]'s value).
pub fn add(csp: &HeaderValue, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<html><head><script type=\"module\">init();</script>\
             <script src=\"/x.js\"></script><script>\n</script></head></html>",
        )
        .unwrap();
        let hashes = inline_script_hashes(dir.path());
        // sha256("init();") and sha256("\n"), as browsers compute them.
        assert_eq!(hashes.len(), 2, "{hashes:?}");
        let expect = |s: &str| {
            format!(
                "sha256-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
            )
        };
        assert_eq!(hashes, [expect("init();"), expect("\n")]);
        let csp = content_security_policy(&hashes);
        assert!(csp.contains(&format!(
            "script-src 'self' 'wasm-unsafe-eval' '{}'",
            hashes[0]
        )));
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
        assert!(inline_script_hashes(&dir.path().join("missing")).is_empty());
    }
}
