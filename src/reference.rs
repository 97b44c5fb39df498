//! Docker image references → Notary GUN, tag, digest and default trust server.
//!
//! Follows docker's reference grammar (`github.com/distribution/reference`, `regexp.go`) and its
//! normalisation (`normalize.go`):
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ domain "/" ] path-component ( "/" path-component )*
//! domain         := host [ ":" port ]
//! host           := domain-label ( "." domain-label )* | "[" ipv6 "]"
//! domain-label   := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag            := [\w][\w.-]{0,127}
//! digest         := "sha256:" [a-f0-9]{64}        (the only digest Notary v1 trust data carries)
//! ```
//!
//! The first component of a name is a registry when it contains `.` or `:`, is `localhost`, or
//! has an upper-case letter (docker's `splitDockerDomain`); otherwise the registry is `docker.io`
//! and one-component names get `library/` in front. `index.docker.io` means `docker.io`. The whole
//! normalised name is at most 255 characters.

use std::fmt;
use std::str::FromStr;

/// Longest normalised repository name docker accepts (`NameTotalLengthMax`).
pub const NAME_MAX_LEN: usize = 255;
/// Longest tag docker accepts.
pub const TAG_MAX_LEN: usize = 128;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const DOCKER_HUB_NOTARY: &str = "https://notary.docker.io";

/// A sha256 image digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Lower-case hex of the 32 bytes, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses `sha256:<64 lower-case hex digits>`; nothing else is a digest here.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        parse_digest(s).map_err(|kind| ReferenceError {
            input: s.to_owned(),
            kind,
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// A repository name as Notary knows it (the GUN), validated once, here, before it can become
/// part of a URL or a path: `/`-separated non-empty segments, the first one a lower-case path
/// component or a registry `host[:port]`, every other one a lower-case path component (so no `.`,
/// `..`, `%`, `?`, `#`, `\`, whitespace), at most 255 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gun(String);

/// A repository name that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository name {name:?}: {reason}")]
pub struct GunError {
    pub name: String,
    pub reason: String,
}

impl Gun {
    /// Check `name` against the grammar.
    pub fn new(name: &str) -> Result<Gun, GunError> {
        let bad = |reason: String| GunError {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("it is empty".into()));
        }
        if name.len() > NAME_MAX_LEN {
            return Err(bad(format!(
                "it is {} bytes long; the limit is {NAME_MAX_LEN}",
                name.len()
            )));
        }
        for (i, segment) in name.split('/').enumerate() {
            if segment.is_empty() {
                return Err(bad(
                    "it has an empty segment (leading, trailing or doubled '/')".into(),
                ));
            }
            if is_path_component(segment) {
                continue;
            }
            if i == 0 && segment != "." && segment != ".." {
                if let Some(problem) = registry_problem(segment) {
                    return Err(bad(format!(
                        "{segment:?} is neither a registry host[:port] ({problem}) nor a \
                         lower-case path component"
                    )));
                }
                continue;
            }
            return Err(bad(format!(
                "{segment:?} is not a lower-case path component (letters and digits separated by \
                 '.', '_', '__' or dashes)"
            )));
        }
        Ok(Gun(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

validated_str!(Gun, GunError);

impl PartialEq<String> for Gun {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl serde::Serialize for Gun {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// What the user typed.
    pub input: String,
    /// `docker.io` for Docker Hub (also when `index.docker.io` was typed), else `host[:port]`.
    pub registry: String,
    /// The Notary GUN: the full normalised repository name, e.g. `docker.io/library/alpine`.
    pub gun: Gun,
    /// The tag; `Some("latest")` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The digest after `@`, if any.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// The Notary server docker would ask (without `DOCKER_CONTENT_TRUST_SERVER`):
    /// `https://notary.docker.io` for Docker Hub, `https://<registry>` for anything else.
    pub fn default_server(&self) -> String {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_NOTARY.to_owned()
        } else {
            format!("https://{}", self.registry)
        }
    }
}

impl fmt::Display for ImageRef {
    /// The normalised form: `gun[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.gun)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// An image reference (or digest) that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {kind}")]
pub struct ReferenceError {
    /// The whole input as given.
    pub input: String,
    /// What was wrong with it.
    pub kind: ReferenceErrorKind,
}

/// What was wrong with an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceErrorKind {
    #[error("it is empty")]
    Empty,
    #[error("it contains whitespace or a control character ({ch:?}) at byte {at}")]
    Whitespace { ch: char, at: usize },
    #[error(
        "it contains {ch:?} at byte {at}; references are plain names (no URL escapes, queries or fragments)"
    )]
    ForbiddenChar { ch: char, at: usize },
    #[error("it contains the non-ASCII character {ch:?} at byte {at}")]
    NonAscii { ch: char, at: usize },
    #[error("the name has an empty component (leading, trailing or doubled '/')")]
    EmptyComponent,
    #[error("the name component {component:?} is '.' or '..'")]
    DotComponent { component: String },
    #[error("the repository name component {component:?} must be lower case")]
    Uppercase { component: String },
    #[error(
        "the repository name component {component:?} must be lower-case letters and digits, \
         separated by single '.', '_', a double '__' or dashes, and must not start or end with a separator"
    )]
    BadComponent { component: String },
    #[error("the registry {registry:?} is not a valid host[:port]: {reason}")]
    BadRegistry { registry: String, reason: String },
    #[error("the normalised name {name:?} is {len} characters long; the limit is {NAME_MAX_LEN}")]
    NameTooLong { name: String, len: usize },
    #[error("the repository name {name:?} is a 64-digit hex string, which docker reserves for image IDs")]
    HexName { name: String },
    #[error(
        "the tag {tag:?} is not valid: it must be 1 to {TAG_MAX_LEN} letters, digits, '_', '.' or '-', \
         not starting with '.' or '-'"
    )]
    BadTag { tag: String },
    #[error("the digest {digest:?} is not valid: {reason}")]
    BadDigest { digest: String, reason: String },
    #[error(transparent)]
    BadName(#[from] GunError),
}

/// Parses and normalises an image reference the way `docker pull` / `docker trust inspect` do.
pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
    parse_inner(s).map_err(|kind| ReferenceError {
        input: s.to_owned(),
        kind,
    })
}

fn parse_inner(s: &str) -> Result<ImageRef, ReferenceErrorKind> {
    if s.is_empty() {
        return Err(ReferenceErrorKind::Empty);
    }
    check_chars(s)?;

    // reference := name [":" tag] ["@" digest]; '@' cannot occur in a name or tag.
    let (name_tag, digest) = match s.split_once('@') {
        Some((left, right)) => (left, Some(parse_digest(right)?)),
        None => (s, None),
    };
    // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].find(':') {
        Some(i) => {
            let at = last_slash + i;
            (&name_tag[..at], Some(&name_tag[at + 1..]))
        }
        None => (name_tag, None),
    };
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return Err(ReferenceErrorKind::BadTag {
                tag: tag.to_owned(),
            });
        }
    }
    if name.is_empty() {
        return Err(ReferenceErrorKind::EmptyComponent);
    }
    if is_hex64(name) {
        return Err(ReferenceErrorKind::HexName {
            name: name.to_owned(),
        });
    }

    let (registry, remainder) = split_registry(name);
    check_path(remainder)?;
    let registry = match registry {
        Some(r) => {
            check_registry(r)?;
            if r == DOCKER_HUB_LEGACY {
                DOCKER_HUB
            } else {
                r
            }
        }
        None => DOCKER_HUB,
    };
    let gun = if registry == DOCKER_HUB && !remainder.contains('/') {
        format!("{registry}/library/{remainder}")
    } else {
        format!("{registry}/{remainder}")
    };
    if gun.len() > NAME_MAX_LEN {
        return Err(ReferenceErrorKind::NameTooLong {
            len: gun.len(),
            name: gun,
        });
    }
    // Docker's grammar is stricter than the GUN's; a name that passed it is a GUN.
    let gun = Gun::new(&gun)?;
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_owned()),
        (None, None) => Some("latest".to_owned()),
        (None, Some(_)) => None,
    };
    Ok(ImageRef {
        input: s.to_owned(),
        registry: registry.to_owned(),
        gun,
        tag,
        digest,
    })
}

/// Refuses, with a precise message, the characters no part of a reference may contain.
fn check_chars(s: &str) -> Result<(), ReferenceErrorKind> {
    for (at, ch) in s.char_indices() {
        if ch.is_whitespace() || ch.is_control() {
            return Err(ReferenceErrorKind::Whitespace { ch, at });
        }
        if !ch.is_ascii() {
            return Err(ReferenceErrorKind::NonAscii { ch, at });
        }
        if matches!(
            ch,
            '%' | '?' | '#' | '\\' | '&' | '=' | '+' | '*' | '"' | '\''
        ) {
            return Err(ReferenceErrorKind::ForbiddenChar { ch, at });
        }
    }
    Ok(())
}

/// docker's `splitDockerDomain`: `(registry, path)`.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// Checks the path part of a name (everything after the registry).
fn check_path(path: &str) -> Result<(), ReferenceErrorKind> {
    for component in path.split('/') {
        check_component(component)?;
    }
    Ok(())
}

fn check_component(component: &str) -> Result<(), ReferenceErrorKind> {
    if component.is_empty() {
        return Err(ReferenceErrorKind::EmptyComponent);
    }
    if component == "." || component == ".." {
        return Err(ReferenceErrorKind::DotComponent {
            component: component.to_owned(),
        });
    }
    if component.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceErrorKind::Uppercase {
            component: component.to_owned(),
        });
    }
    if !is_path_component(component) {
        return Err(ReferenceErrorKind::BadComponent {
            component: component.to_owned(),
        });
    }
    Ok(())
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        // one run of alphanumerics
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // one separator
        let sep_start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &b[sep_start..i];
        let ok = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&c| c == b'-');
        if !ok || i == sep_start {
            return false;
        }
    }
}

/// `None` when `registry` is a `host[:port]` docker accepts, else what is wrong with it.
pub(crate) fn registry_problem(registry: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Some("an IPv6 address must be closed by ']'".into());
        };
        if addr.is_empty() || !addr.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return Some(format!("{addr:?} is not an IPv6 address"));
        }
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Some(format!("{addr:?} is not an IPv6 address"));
        }
        match after {
            "" => (registry, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (&registry[..registry.len() - after.len()], Some(port)),
                None => return Some("only ':<port>' may follow an IPv6 address".into()),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if !host.starts_with('[') {
        if host.is_empty() {
            return Some("the host name is empty".into());
        }
        for label in host.split('.') {
            if !is_domain_label(label) {
                return Some(format!(
                    "{label:?} is not a host name label (letters, digits and inner '-')"
                ));
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
            return Some(format!("the port {port:?} is not a number"));
        }
    }
    None
}

fn check_registry(registry: &str) -> Result<(), ReferenceErrorKind> {
    if registry == "." || registry == ".." {
        return Err(ReferenceErrorKind::DotComponent {
            component: registry.to_owned(),
        });
    }
    match registry_problem(registry) {
        None => Ok(()),
        Some(reason) => Err(ReferenceErrorKind::BadRegistry {
            registry: registry.to_owned(),
            reason,
        }),
    }
}

/// `[a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    match b.first() {
        Some(&first) if word(first) => {
            b.len() <= TAG_MAX_LEN && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
        }
        _ => false,
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

fn parse_digest(s: &str) -> Result<Digest, ReferenceErrorKind> {
    let bad = |reason: &str| ReferenceErrorKind::BadDigest {
        digest: s.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return Err(bad("expected sha256:<64 hex digits>"));
    };
    if algorithm != "sha256" {
        return Err(bad(
            "only sha256 digests are supported (Notary v1 trust data records sha256)",
        ));
    }
    if encoded.len() != 64 {
        return Err(bad(&format!(
            "a sha256 digest has 64 hex digits, this one has {}",
            encoded.len()
        )));
    }
    if !is_hex64(encoded) {
        return Err(bad("a sha256 digest is 64 lower-case hex digits"));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(encoded, &mut out).map_err(|e| bad(&e.to_string()))?;
    Ok(Digest(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok(s: &str) -> ImageRef {
        match parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    /// `input` parses, with this registry, GUN and default server.
    #[track_caller]
    fn ok_as(input: &str, registry: &str, gun: &str, server: &str) -> ImageRef {
        let r = ok(input);
        assert_eq!(r.registry, registry, "{input}");
        assert_eq!(r.gun, gun, "{input}");
        assert_eq!(r.default_server(), server, "{input}");
        r
    }

    /// `input` is refused with an error of this kind.
    macro_rules! assert_kind {
        ($input:expr, $kind:pat) => {
            let k = kind($input);
            assert!(matches!(k, $kind), "{:?}: {k:?}", $input);
        };
    }

    fn kind(s: &str) -> ReferenceErrorKind {
        match parse(s) {
            Ok(r) => panic!("{s:?} should be refused, got {r:?}"),
            Err(e) => {
                assert_eq!(e.input, s);
                e.kind
            }
        }
    }

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{HEX}")).unwrap()
    }

    #[test]
    fn official_image_gets_docker_io_library() {
        let r = ok("alpine");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.gun, "docker.io/library/alpine");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest, None);
        assert_eq!(r.input, "alpine");
        assert_eq!(r.default_server(), "https://notary.docker.io");
    }

    #[test]
    fn user_repository_gets_docker_io() {
        let r = ok("user/app:1.2");
        assert_eq!(r.gun, "docker.io/user/app");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(ok("a/b/c").gun, "docker.io/a/b/c");
    }

    #[test]
    fn explicit_docker_hub_names_normalise_alike() {
        for s in [
            "docker.io/alpine",
            "docker.io/library/alpine",
            "index.docker.io/alpine",
            "index.docker.io/library/alpine:latest",
        ] {
            let r = ok(s);
            assert_eq!(r.registry, "docker.io", "{s}");
            assert_eq!(r.gun, "docker.io/library/alpine", "{s}");
            assert_eq!(r.default_server(), "https://notary.docker.io", "{s}");
        }
        assert_eq!(ok("index.docker.io/user/app").gun, "docker.io/user/app");
    }

    #[test]
    fn first_component_is_registry_with_dot_colon_or_localhost() {
        ok_as(
            "quay.io/org/app:v1",
            "quay.io",
            "quay.io/org/app",
            "https://quay.io",
        );

        let r = ok_as(
            "localhost:5000/app",
            "localhost:5000",
            "localhost:5000/app",
            "https://localhost:5000",
        );
        assert_eq!(r.tag.as_deref(), Some("latest"));

        let r = ok("localhost/app");
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.gun, "localhost/app");

        let r = ok("myreg:443/team/app:tag");
        assert_eq!(r.registry, "myreg:443");
        assert_eq!(r.gun, "myreg:443/team/app");
        assert_eq!(r.tag.as_deref(), Some("tag"));

        // Not a registry: no dot, no colon, not localhost.
        let r = ok("library/alpine");
        assert_eq!(r.gun, "docker.io/library/alpine");
        let r = ok("localhostx/app");
        assert_eq!(r.gun, "docker.io/localhostx/app");
    }

    #[test]
    fn single_component_with_port_like_suffix_is_a_tag() {
        // docker reads "localhost:5000" as the image "localhost" with tag "5000".
        let r = ok("localhost:5000");
        assert_eq!(r.gun, "docker.io/library/localhost");
        assert_eq!(r.tag.as_deref(), Some("5000"));
    }

    #[test]
    fn upper_case_first_component_is_a_registry_like_docker() {
        let r = ok("Example.COM/app");
        assert_eq!(r.registry, "Example.COM");
        assert_eq!(r.gun, "Example.COM/app");
    }

    #[test]
    fn ipv6_registry() {
        ok_as(
            "[::1]:5000/app:v1",
            "[::1]:5000",
            "[::1]:5000/app",
            "https://[::1]:5000",
        );
        assert_eq!(ok("[2001:db8::1]/app").registry, "[2001:db8::1]");
        for input in ["[::1/app", "[zz::1]:5000/app", "[1:2:3]/app", "[::1]x/app"] {
            assert_kind!(input, ReferenceErrorKind::BadRegistry { .. });
        }
    }

    #[test]
    fn digest_only_has_no_tag() {
        let r = ok(&format!("alpine@sha256:{HEX}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest, Some(digest()));
        assert_eq!(r.gun, "docker.io/library/alpine");
    }

    #[test]
    fn tag_and_digest_are_both_kept() {
        let r = ok(&format!("localhost:5000/app:v2@sha256:{HEX}"));
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.digest, Some(digest()));
        assert_eq!(r.gun, "localhost:5000/app");
        assert_eq!(r.to_string(), format!("localhost:5000/app:v2@sha256:{HEX}"));
    }

    #[test]
    fn display_is_normalised() {
        assert_eq!(ok("alpine").to_string(), "docker.io/library/alpine:latest");
    }

    #[test]
    fn path_component_grammar() {
        for good in [
            "a", "a0", "a.b", "a_b", "a__b", "a-b", "a--b", "a---b", "a.b_c-d", "0", "9lives",
        ] {
            assert!(is_path_component(good), "{good}");
        }
        for bad in [
            "", ".a", "a.", "_a", "a_", "-a", "a-", "a..b", "a___b", "a._b", "a-.b", "a_-b",
            "a.-b", "A", "aB", "a:b", "a@b", "a/b", ".", "..",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn upper_case_in_the_repository_path_is_refused() {
        assert_eq!(
            kind("Alpine"),
            ReferenceErrorKind::Uppercase {
                component: "Alpine".into()
            }
        );
        assert_eq!(
            kind("quay.io/Org/app"),
            ReferenceErrorKind::Uppercase {
                component: "Org".into()
            }
        );
        assert_kind!("user/App", ReferenceErrorKind::Uppercase { .. });
    }

    #[test]
    fn dot_dot_and_bad_separators_are_refused() {
        assert_eq!(
            kind("quay.io/../etc"),
            ReferenceErrorKind::DotComponent {
                component: "..".into()
            }
        );
        for input in ["user/a..b", "user/.hidden"] {
            assert_kind!(input, ReferenceErrorKind::BadComponent { .. });
        }
        for input in ["..", "../x"] {
            assert_kind!(input, ReferenceErrorKind::DotComponent { .. });
        }
    }

    #[test]
    fn url_escapes_queries_fragments_and_whitespace_are_refused() {
        assert_kind!(
            "quay.io/a%2Fb",
            ReferenceErrorKind::ForbiddenChar { ch: '%', at: 9 }
        );
        assert_kind!(
            "quay.io/a%2F..%2Fb",
            ReferenceErrorKind::ForbiddenChar { ch: '%', .. }
        );
        assert_kind!(
            "alpine?x=1",
            ReferenceErrorKind::ForbiddenChar { ch: '?', .. }
        );
        assert_kind!(
            "alpine#frag",
            ReferenceErrorKind::ForbiddenChar { ch: '#', .. }
        );
        assert_kind!("alp ine", ReferenceErrorKind::Whitespace { ch: ' ', at: 3 });
        for input in [" alpine", "alpine\n", "alpine\t:latest", "alp\0ine"] {
            assert_kind!(input, ReferenceErrorKind::Whitespace { .. });
        }
        assert_kind!("alpïne", ReferenceErrorKind::NonAscii { ch: 'ï', .. });
        assert_kind!("a\\b", ReferenceErrorKind::ForbiddenChar { ch: '\\', .. });
    }

    #[test]
    fn empty_components_are_refused() {
        assert_eq!(kind(""), ReferenceErrorKind::Empty);
        for s in [
            "/alpine",
            "alpine/",
            "user//app",
            "quay.io/",
            "quay.io//app",
            ":tag",
            "@sha256:0",
        ] {
            let k = match parse(s) {
                Ok(r) => panic!("{s:?} accepted as {r:?}"),
                Err(e) => e.kind,
            };
            assert!(
                matches!(
                    k,
                    ReferenceErrorKind::EmptyComponent | ReferenceErrorKind::BadDigest { .. }
                ),
                "{s:?}: {k:?}"
            );
        }
        assert_eq!(kind(":tag"), ReferenceErrorKind::EmptyComponent);
        assert_eq!(kind("/alpine"), ReferenceErrorKind::EmptyComponent);
        assert_eq!(kind("user//app"), ReferenceErrorKind::EmptyComponent);
    }

    #[test]
    fn bad_registries_are_refused() {
        for s in [
            "-quay.io/app",
            "quay-.io/app",
            "quay..io/app",
            ".quay.io/app",
            "quay.io:/app",
            "quay.io:abc/app",
            "quay.io:123456/app",
            "quay_io.com/app",
            "quay.io:80:80/app",
        ] {
            assert!(
                matches!(kind(s), ReferenceErrorKind::BadRegistry { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn name_length_limit_is_255_after_normalisation() {
        // docker.io/library/ is 18 characters.
        let fits = "a".repeat(NAME_MAX_LEN - "docker.io/library/".len());
        assert_eq!(ok(&fits).gun.len(), NAME_MAX_LEN);
        let over = format!("{fits}b");
        assert_kind!(&over, ReferenceErrorKind::NameTooLong { len: 256, .. });
        let long_path = format!("quay.io/{}", "x".repeat(300));
        assert_kind!(&long_path, ReferenceErrorKind::NameTooLong { .. });
    }

    #[test]
    fn tag_grammar() {
        assert_eq!(ok("a:v1.2-rc_3").tag.as_deref(), Some("v1.2-rc_3"));
        assert_eq!(ok("a:_x").tag.as_deref(), Some("_x"));
        assert_eq!(ok("a:V1").tag.as_deref(), Some("V1"));
        let longest = "t".repeat(TAG_MAX_LEN);
        assert_eq!(ok(&format!("a:{longest}")).tag.as_deref(), Some(&*longest));
        for bad in [
            "a:",
            "a:.x",
            "a:-x",
            "a:x:y",
            "a:x/y",
            &format!("a:{longest}t"),
        ] {
            let k = match parse(bad) {
                Ok(r) => panic!("{bad:?} accepted as {r:?}"),
                Err(e) => e.kind,
            };
            assert!(
                matches!(
                    k,
                    ReferenceErrorKind::BadTag { .. }
                        | ReferenceErrorKind::BadComponent { .. }
                        | ReferenceErrorKind::BadRegistry { .. }
                ),
                "{bad:?}: {k:?}"
            );
        }
        assert_eq!(kind("a:"), ReferenceErrorKind::BadTag { tag: "".into() });
        assert_eq!(
            kind("a:.x"),
            ReferenceErrorKind::BadTag { tag: ".x".into() }
        );
    }

    #[test]
    fn digests_must_be_sha256_with_64_lower_case_hex() {
        let upper = HEX.to_uppercase();
        let cases = [
            format!("a@sha512:{HEX}{HEX}"),
            format!("a@sha256:{}", &HEX[..63]),
            format!("a@sha256:{HEX}0"),
            format!("a@sha256:{upper}"),
            format!("a@sha256:{}g", &HEX[..63]),
            format!("a@{HEX}"),
            "a@".to_owned(),
            format!("a@sha256:{HEX}@sha256:{HEX}"),
            format!("a@SHA256:{HEX}"),
        ];
        for s in &cases {
            assert!(
                matches!(kind(s), ReferenceErrorKind::BadDigest { .. }),
                "{s}"
            );
        }
        // A tag after the digest is not grammar either.
        assert_kind!(
            &format!("a@sha256:{HEX}:tag"),
            ReferenceErrorKind::BadDigest { .. }
        );
    }

    #[test]
    fn digest_round_trip_and_hex() {
        let d = digest();
        assert_eq!(d.hex(), HEX);
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert_eq!(format!("sha256:{HEX}").parse::<Digest>(), Ok(d));
        assert_eq!(d.0[0], 0x01);
        assert_eq!(d.0[31], 0xef);
        let e = Digest::parse("md5:abc").unwrap_err();
        assert_eq!(e.input, "md5:abc");
        assert!(e.to_string().contains("md5:abc"), "{e}");
    }

    #[test]
    fn a_64_hex_name_is_refused_like_docker() {
        assert_eq!(kind(HEX), ReferenceErrorKind::HexName { name: HEX.into() });
        // With a namespace it is an ordinary name.
        assert_eq!(
            ok(&format!("user/{HEX}")).gun,
            format!("docker.io/user/{HEX}")
        );
    }

    #[test]
    fn messages_name_the_input_and_the_problem() {
        let e = parse("quay.io/Org/app").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"quay.io/Org/app\""), "{msg}");
        assert!(msg.contains("\"Org\""), "{msg}");
        assert!(msg.contains("lower case"), "{msg}");

        let e = parse("alpine\u{1b}[31m").unwrap_err();
        // Control characters are escaped in messages, never printed raw.
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "@",
            ":",
            "/",
            "//",
            "::",
            "@@",
            ":@",
            "a:@",
            "[",
            "]",
            "[]",
            "[]/a",
            "[:]/a",
            "[::1]",
            "[::1]:/a",
            "a/:",
            "a/@",
            "é",
            "a\u{0301}",
            ":::/a",
            "a:b:c/d",
            "\u{feff}a",
            "localhost:",
            "localhost:/a",
            "a@sha256:",
            "a@:",
            "[::1]:5000",
            "x:5000/",
        ];
        for s in odd {
            let _ = parse(s);
        }
        // Every prefix of a complex reference, at every char boundary.
        let full = format!("[2001:db8::1]:5000/team/app:v1@sha256:{HEX}");
        for (i, _) in full.char_indices() {
            let _ = parse(&full[..i]);
        }
        assert!(parse(&full).is_ok());
    }

    #[test]
    fn a_gun_is_checked_once_with_one_grammar() {
        for ok in [
            "docker.io/library/alpine",
            "localhost:5000/a/b",
            "Example.COM/app",
            "a",
        ] {
            assert_eq!(Gun::new(ok).unwrap(), ok);
        }
        for bad in ["", "a//b", "a/../b", "a/B", "a/b%2f", "a/b c", "./a", "a/"] {
            let e = Gun::new(bad).unwrap_err();
            assert_eq!(e.name, bad);
        }
        assert!(Gun::new(&"a".repeat(NAME_MAX_LEN + 1)).is_err());
        // Every name docker's grammar accepts is a GUN.
        assert_eq!(ok("[::1]:5000/app").gun.as_str(), "[::1]:5000/app");
    }
}
