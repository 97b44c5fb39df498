//! A registry as an [`OciSource`], over the distribution API, on the crate's HTTP stack
//! ([`HttpSource`]: one client, bounded exchanges, same-server redirects, 401 → token or Basic,
//! docker credentials).
//!
//! - `GET /v2/<repo>/manifests/<tag|digest>` with `Accept` for OCI and Docker manifests and
//!   indexes; the digest is the SHA-256 of the bytes (a digest asked for must match), the media
//!   type is the Content-Type, which must agree with the manifest's own `mediaType`.
//! - `GET /v2/<repo>/blobs/<digest>`, hash-checked. A blob alone may be redirected to another
//!   server (a CDN) over https; `Authorization` is not sent there.
//! - Referrers: `GET /v2/<repo>/referrers/<digest>?artifactType=<type>` (an OCI image index,
//!   `Link: <...>; rel="next"` for more pages, at most [`MAX_REFERRER_PAGES`], each page at most
//!   [`MAX_INDEX_LEN`], links only to the same server and never twice). A 404 (other than the
//!   registry's `NAME_UNKNOWN`) means the registry has no referrers API: the referrers tag
//!   schema is read instead, the image index tagged `sha256-<hex>` (none: no referrers). What the
//!   registry answered is remembered for the source's life, so the next lookup asks only the
//!   one that works; until it is known, both are asked in the same wave. The `artifactType`
//!   filter is applied here whatever the server says it did.
//! - Waves: [`OciSource::manifest_and_referrers`] of a digest is one wave (manifest, referrers
//!   and, while the API is unknown, the tag-schema index at once); `manifests_many` and
//!   `blobs_many` are one wave each (plus one for credentials when the registry asks). So a
//!   digest is verified in 3 waves (referrers, signature manifests, envelopes), a tag in 4.
//! - A deadline ([`RegistryOptions::deadline`], [`RegistrySource::with_deadline`]) is checked
//!   before each wave ([`OciError::Deadline`]) and goes into the wave ([`Wave::until`]): it caps
//!   every exchange's timeout, token requests included, and one past it is not sent.
//! - https always, unless [`RegistryOptions::insecure`] (plain http; warning about it off
//!   loopback is the caller's).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use reqwest::header::{HeaderValue, CONTENT_TYPE, LINK};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::{
    check_digest, check_reference, check_repo, filter_type, is_index, manifest_media_type, sha256,
    with_referrers, Descriptor, Manifest, ManifestFields, OciError, OciSource, Reference,
    WithReferrers, MANIFEST_TYPES, OCI_INDEX,
};
use crate::fetch::http::{self, Get, HttpOptions, HttpSource, Reply};
use crate::fetch::Wave;
use crate::reference::{self, Digest};

/// Most pages of one referrers listing followed.
pub const MAX_REFERRER_PAGES: usize = 100;
/// Largest referrers page or tag-schema index read (notation's metadata limit).
pub const MAX_INDEX_LEN: u64 = 4 * 1024 * 1024;
/// Largest error body read from a referrers 404 (to tell `NAME_UNKNOWN` apart).
const ERROR_BODY_LEN: u64 = 64 * 1024;
/// Requests in flight at once by default.
pub const DEFAULT_PARALLEL: usize = 16;

/// Docker Hub's registry host, for the name `docker.io`.
const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

const UNKNOWN: u8 = 0;
const SUPPORTED: u8 = 1;
const UNSUPPORTED: u8 = 2;

/// How a [`RegistrySource`] connects.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// TLS, timeouts, credentials ([`HttpOptions::check_health`] is not used).
    pub http: HttpOptions,
    /// Plain http instead of https.
    pub insecure: bool,
    /// Requests in flight at once within a wave.
    pub parallel: usize,
    /// Every request ends by then.
    pub deadline: Option<Instant>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            http: HttpOptions::default(),
            insecure: false,
            parallel: DEFAULT_PARALLEL,
            deadline: None,
        }
    }
}

/// A registry. Cheap to clone and share: connections, tokens and what was learnt about its
/// referrers API are shared by every clone.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    /// `host[:port]` as named (credentials are looked up under it).
    registry: String,
    /// `https://host[:port]` (or http), no trailing `/`.
    base: String,
    http: HttpSource,
    parallel: usize,
    deadline: Option<Instant>,
    referrers_api: Arc<AtomicU8>,
}

impl RegistrySource {
    /// The registry `registry` (`host[:port]`, `docker.io` for Docker Hub).
    pub fn new(registry: &str, opts: RegistryOptions) -> Result<RegistrySource, OciError> {
        if let Some(problem) = reference::registry_problem(registry) {
            return Err(OciError::BadName {
                what: "registry",
                name: registry.to_owned(),
                reason: problem,
            });
        }
        let host = if registry == "docker.io" {
            DOCKER_HUB_REGISTRY
        } else {
            registry
        };
        let scheme = if opts.insecure { "http" } else { "https" };
        let base = format!("{scheme}://{host}");
        let mut http_opts = opts.http;
        http_opts.check_health = false;
        let http = HttpSource::for_registry(&base, http_opts)?;
        Ok(RegistrySource {
            registry: registry.to_owned(),
            base,
            http,
            parallel: opts.parallel.max(1),
            deadline: opts.deadline,
            referrers_api: Arc::new(AtomicU8::new(UNKNOWN)),
        })
    }

    /// The same registry (connections, tokens, referrers knowledge shared) with every request
    /// ending by `deadline`.
    pub fn with_deadline(&self, deadline: Instant) -> RegistrySource {
        RegistrySource {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// `https://host[:port]` (or `http://`), no trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Plain http to a host that is not loopback: the caller should warn, as `--insecure-registry`
    /// sends everything (tokens and credentials included) unencrypted there.
    pub fn plain_http_off_loopback(&self) -> bool {
        self.base.starts_with("http://") && !http::is_loopback_url(&self.base)
    }

    /// What the registry showed of its referrers API: `Some(true)` it answered, `Some(false)`
    /// it answered 404 (the tag schema is used), `None` not asked yet.
    pub fn referrers_api(&self) -> Option<bool> {
        match self.referrers_api.load(Ordering::Relaxed) {
            SUPPORTED => Some(true),
            UNSUPPORTED => Some(false),
            _ => None,
        }
    }

    /// Take what an earlier run saw of the referrers API (kept in the trust cache), unless this
    /// source has seen the registry answer already. A wrong guess costs one more wave, never a
    /// wrong answer: a 404 from the API still falls back to the tag schema.
    pub fn assume_referrers_api(&self, supported: bool) {
        let state = if supported { SUPPORTED } else { UNSUPPORTED };
        let _ = self.referrers_api.compare_exchange(
            UNKNOWN,
            state,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    fn name(&self, repo: &str) -> String {
        format!("{}/{repo}", self.registry)
    }

    fn manifest_url(&self, repo: &str, reference: &Reference) -> String {
        format!("{}/v2/{repo}/manifests/{}", self.base, reference.as_path())
    }

    fn blob_url(&self, repo: &str, digest: &Digest) -> String {
        format!("{}/v2/{repo}/blobs/{digest}", self.base)
    }

    fn referrers_url(&self, repo: &str, subject: &Digest, artifact_type: Option<&str>) -> String {
        let raw = format!("{}/v2/{repo}/referrers/{subject}", self.base);
        match (artifact_type, Url::parse(&raw)) {
            (Some(t), Ok(mut url)) => {
                url.query_pairs_mut().append_pair("artifactType", t);
                url.to_string()
            }
            _ => raw,
        }
    }

    fn manifest_get(&self, repo: &str, reference: &Reference, max_len: u64) -> Get {
        let mut get = Get::new(self.manifest_url(repo, reference), max_len);
        get.accept = HeaderValue::from_str(&MANIFEST_TYPES.join(", ")).ok();
        get
    }

    fn index_get(url: String) -> Get {
        let mut get = Get::new(url, MAX_INDEX_LEN);
        get.accept = Some(HeaderValue::from_static(OCI_INDEX));
        get.error_body = ERROR_BODY_LEN;
        get
    }

    /// One wave of GETs, after checking the deadline.
    fn wave(&self, repo: &str, gets: Vec<Get>) -> Vec<Result<Reply, OciError>> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return gets
                .into_iter()
                .map(|g| Err(OciError::Deadline { location: g.url }))
                .collect();
        }
        self.http
            .get_many(
                &self.name(repo),
                gets,
                Wave {
                    parallel: self.parallel,
                    until: self.deadline,
                },
            )
            .into_iter()
            .map(|r| r.map_err(OciError::from))
            .collect()
    }

    /// The first wave of a referrers lookup: the API's first page and/or the tag-schema index,
    /// as far as what the registry supports is known.
    fn referrer_gets(&self, repo: &str, subject: &Digest, artifact_type: Option<&str>) -> Vec<Get> {
        let state = self.referrers_api.load(Ordering::Relaxed);
        let mut gets = Vec::new();
        if state != UNSUPPORTED {
            gets.push(Self::index_get(self.referrers_url(
                repo,
                subject,
                artifact_type,
            )));
        }
        if state != SUPPORTED {
            let tag = Reference::referrers_tag(subject);
            gets.push(Self::index_get(self.manifest_url(repo, &tag)));
        }
        gets
    }

    /// The referrers from the first wave's replies (in [`Self::referrer_gets`]'s order), with
    /// whatever more waves they need (more pages; the tag schema when the API turned out absent).
    fn finish_referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
        max: usize,
        gets: Vec<Get>,
        mut replies: Vec<Result<Reply, OciError>>,
    ) -> Result<Vec<Descriptor>, OciError> {
        let tag_url = self.manifest_url(repo, &Reference::referrers_tag(subject));
        let mut tag_reply = None;
        if gets.last().is_some_and(|g| g.url == tag_url) {
            tag_reply = replies.pop();
        }
        if let Some(api_reply) = replies.pop() {
            let url = gets.first().map(|g| g.url.clone()).unwrap_or_default();
            let reply = api_reply?;
            if reply.status == StatusCode::NOT_FOUND {
                if name_unknown(&reply.body) {
                    return Err(OciError::NotFound {
                        location: format!(
                            "{url} (the registry says NAME_UNKNOWN: no repository {repo:?})"
                        ),
                    });
                }
                self.referrers_api.store(UNSUPPORTED, Ordering::Relaxed);
            } else {
                let page = http::success(&url, reply)?;
                self.referrers_api.store(SUPPORTED, Ordering::Relaxed);
                return self.pages(repo, url, page, artifact_type, max);
            }
        }
        let reply = match tag_reply {
            Some(r) => r,
            None => self
                .wave(repo, vec![Self::index_get(tag_url.clone())])
                .pop()
                .unwrap_or_else(|| {
                    Err(OciError::NotFound {
                        location: tag_url.clone(),
                    })
                }),
        };
        let reply = match reply {
            Ok(r) if r.status == StatusCode::NOT_FOUND => return Ok(Vec::new()),
            other => other?,
        };
        let reply = http::success(&tag_url, reply)?;
        let manifest = manifest_from(&tag_url, None, reply)?;
        if !is_index(&manifest.media_type) {
            return Err(OciError::Malformed {
                location: tag_url,
                what: "referrers tag-schema index",
                reason: format!(
                    "its media type is {:?}, not an image index",
                    manifest.media_type
                ),
            });
        }
        let listed = ManifestFields::parse(&manifest.bytes, &tag_url)?.manifests;
        let mut seen = HashSet::new();
        cap(
            once_each(filter_type(listed, artifact_type), &mut seen),
            max,
            &tag_url,
        )
    }

    /// Reads the referrers API's pages from `first` on, following `Link: rel="next"`.
    fn pages(
        &self,
        repo: &str,
        url: String,
        first: Reply,
        artifact_type: Option<&str>,
        max: usize,
    ) -> Result<Vec<Descriptor>, OciError> {
        let first_url = url.clone();
        let mut seen: HashSet<String> = HashSet::new();
        seen.insert(url.clone());
        let mut found = Vec::new();
        let mut digests = HashSet::new();
        let mut page = first;
        let mut url = url;
        let mut n = 0;
        loop {
            n += 1;
            let content_type = media_type_of(&page);
            if content_type.as_deref() != Some(OCI_INDEX) {
                return Err(OciError::Malformed {
                    location: url,
                    what: "referrers answer",
                    reason: format!(
                        "its Content-Type is {:?}, not {OCI_INDEX}",
                        content_type.unwrap_or_default()
                    ),
                });
            }
            let listed = ManifestFields::parse(&page.body, &url)?.manifests;
            found.extend(once_each(filter_type(listed, artifact_type), &mut digests));
            if found.len() > max {
                return cap(found, max, &first_url);
            }
            let Some(next) = next_link(&page, &self.base, &url)? else {
                return Ok(found);
            };
            if n >= MAX_REFERRER_PAGES {
                return Err(OciError::Endless {
                    location: first_url,
                    limit: MAX_REFERRER_PAGES,
                    unit: "pages",
                });
            }
            if !seen.insert(next.clone()) {
                return Err(OciError::BadLink {
                    location: url,
                    link: next,
                    reason: "it leads back to a page already read".into(),
                });
            }
            let reply = self
                .wave(repo, vec![Self::index_get(next.clone())])
                .pop()
                .unwrap_or_else(|| {
                    Err(OciError::NotFound {
                        location: next.clone(),
                    })
                })?;
            page = http::success(&next, reply)?;
            url = next;
        }
    }
}

/// The descriptors not seen before (by digest): a server repeating one does not make it count
/// twice against the limit, nor be verified twice.
fn once_each(list: Vec<Descriptor>, seen: &mut HashSet<Digest>) -> Vec<Descriptor> {
    list.into_iter().filter(|d| seen.insert(d.digest)).collect()
}

/// More than `max`: cut to `max` and say so.
fn cap(
    mut found: Vec<Descriptor>,
    max: usize,
    location: &str,
) -> Result<Vec<Descriptor>, OciError> {
    if found.len() > max {
        found.truncate(max);
        return Err(OciError::TooManyReferrers {
            location: location.to_owned(),
            max,
            found,
        });
    }
    Ok(found)
}

/// The Content-Type without parameters.
fn media_type_of(reply: &Reply) -> Option<String> {
    let v = reply.headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_owned())
}

/// A manifest from a 2xx reply: its media type checked against Content-Type, its digest
/// computed (and compared with `expected` when given).
fn manifest_from(url: &str, expected: Option<&Digest>, reply: Reply) -> Result<Manifest, OciError> {
    let bytes = reply.body;
    if let Some(d) = expected {
        check_digest(url, &bytes, d)?;
    }
    let content_type = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
    let media_type = manifest_media_type(url, content_type.as_deref(), &bytes)?;
    let digest = sha256(&bytes);
    Ok(Manifest {
        bytes,
        media_type,
        digest,
    })
}

/// A registry error body naming `NAME_UNKNOWN` (no such repository).
fn name_unknown(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<Code>,
    }
    #[derive(Deserialize)]
    struct Code {
        #[serde(default)]
        code: String,
    }
    serde_json::from_slice::<Errors>(body)
        .is_ok_and(|e| e.errors.iter().any(|c| c.code == "NAME_UNKNOWN"))
}

/// The `rel="next"` target of the reply's `Link` headers, resolved against the URL that
/// answered; it must be on the registry's own server.
fn next_link(reply: &Reply, base: &str, url: &str) -> Result<Option<String>, OciError> {
    let mut next = None;
    for value in reply.headers.get_all(LINK) {
        let Ok(value) = value.to_str() else {
            return Err(bad_link(
                url,
                &String::from_utf8_lossy(value.as_bytes()),
                "not text",
            ));
        };
        for link in split_links(value) {
            if let Some(target) = link_next(link) {
                if next.is_some() {
                    return Err(bad_link(url, value, "more than one next page"));
                }
                next = Some(target.to_owned());
            }
        }
    }
    let Some(target) = next else {
        return Ok(None);
    };
    let answered = Url::parse(&reply.url).map_err(|e| bad_link(url, &target, &e.to_string()))?;
    let resolved = answered
        .join(&target)
        .map_err(|e| bad_link(url, &target, &e.to_string()))?;
    let base = Url::parse(base).map_err(|e| bad_link(url, &target, &e.to_string()))?;
    let same = resolved.scheme() == base.scheme()
        && resolved.host_str() == base.host_str()
        && resolved.port_or_known_default() == base.port_or_known_default();
    if !same {
        return Err(bad_link(url, &target, "it leads to another server"));
    }
    if resolved.fragment().is_some() || !resolved.username().is_empty() {
        return Err(bad_link(
            url,
            &target,
            "it carries a fragment or user information",
        ));
    }
    Ok(Some(resolved.to_string()))
}

fn bad_link(url: &str, link: &str, reason: &str) -> OciError {
    let link: String = link.chars().take(200).collect();
    OciError::BadLink {
        location: url.to_owned(),
        link,
        reason: reason.to_owned(),
    }
}

/// The links of one `Link` value: `<uri>; params, <uri>; params` (commas inside `<>` kept).
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut inside) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            ',' if !inside => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|l| !l.is_empty());
    out
}

/// The target of one link when its `rel` is `next`.
fn link_next(link: &str) -> Option<&str> {
    let rest = link.strip_prefix('<')?;
    let (target, params) = rest.split_once('>')?;
    let is_next = params.split(';').any(|p| {
        let Some((k, v)) = p.split_once('=') else {
            return false;
        };
        k.trim().eq_ignore_ascii_case("rel")
            && v.trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
    });
    is_next.then_some(target)
}

/// When `repo` is not a valid repository path, its error once for each of `wanted`.
fn repo_refused_for_each<T, W>(repo: &str, wanted: &[W]) -> Option<Vec<Result<T, OciError>>> {
    check_repo(repo).err()?;
    Some(
        wanted
            .iter()
            .filter_map(|_| check_repo(repo).err())
            .map(Err)
            .collect(),
    )
}

impl OciSource for RegistrySource {
    fn manifest(
        &self,
        repo: &str,
        reference: &Reference,
        max_len: u64,
    ) -> Result<Manifest, OciError> {
        self.manifests_many(repo, &[(reference.clone(), max_len)])
            .pop()
            .unwrap_or_else(|| {
                Err(OciError::NotFound {
                    location: self.manifest_url(repo, reference),
                })
            })
    }

    fn blob(&self, repo: &str, digest: &Digest, max_len: u64) -> Result<Vec<u8>, OciError> {
        self.blobs_many(repo, &[(*digest, max_len)])
            .pop()
            .unwrap_or_else(|| {
                Err(OciError::NotFound {
                    location: self.blob_url(repo, digest),
                })
            })
    }

    fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
        max: usize,
    ) -> Result<Vec<Descriptor>, OciError> {
        check_repo(repo)?;
        let gets = self.referrer_gets(repo, subject, artifact_type);
        let replies = self.wave(repo, gets.clone());
        self.finish_referrers(repo, subject, artifact_type, max, gets, replies)
    }

    /// One wave (two when the registry asks for credentials).
    fn manifests_many(
        &self,
        repo: &str,
        wanted: &[(Reference, u64)],
    ) -> Vec<Result<Manifest, OciError>> {
        if let Some(refused) = repo_refused_for_each(repo, wanted) {
            return refused;
        }
        let mut results: Vec<Option<Result<Manifest, OciError>>> =
            wanted.iter().map(|_| None).collect();
        let mut asked = Vec::new();
        let mut gets = Vec::new();
        for (i, (reference, max_len)) in wanted.iter().enumerate() {
            match check_reference(reference) {
                Ok(()) => {
                    asked.push(i);
                    gets.push(self.manifest_get(repo, reference, *max_len));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        for (i, reply) in asked.into_iter().zip(self.wave(repo, gets)) {
            let (reference, _) = &wanted[i];
            let url = self.manifest_url(repo, reference);
            results[i] = Some(reply.and_then(|r| {
                let r = http::success(&url, r)?;
                manifest_from(&url, reference.digest(), r)
            }));
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(OciError::NotFound {
                        location: self.base.clone(),
                    })
                })
            })
            .collect()
    }

    /// One wave (two when the registry asks for credentials).
    fn blobs_many(&self, repo: &str, wanted: &[(Digest, u64)]) -> Vec<Result<Vec<u8>, OciError>> {
        if let Some(refused) = repo_refused_for_each(repo, wanted) {
            return refused;
        }
        let gets = wanted
            .iter()
            .map(|(d, max_len)| Get::new(self.blob_url(repo, d), *max_len))
            .collect();
        self.wave(repo, gets)
            .into_iter()
            .zip(wanted)
            .map(|(reply, (digest, _))| {
                let url = self.blob_url(repo, digest);
                let bytes = http::success(&url, reply?)?.body;
                check_digest(&url, &bytes, digest)?;
                Ok(bytes)
            })
            .collect()
    }

    /// For a digest: the manifest, the referrers API and (while it is not known to answer) the
    /// tag-schema index, all in one wave.
    fn manifest_and_referrers(
        &self,
        repo: &str,
        reference: &Reference,
        max_len: u64,
        artifact_type: Option<&str>,
        max: usize,
    ) -> WithReferrers {
        let Reference::Digest(digest) = reference else {
            let manifest = self.manifest(repo, reference, max_len);
            return with_referrers(self, repo, manifest, artifact_type, max);
        };
        if let Err(e) = check_repo(repo) {
            return (Err(e), None);
        }
        let url = self.manifest_url(repo, reference);
        let referrer_gets = self.referrer_gets(repo, digest, artifact_type);
        let mut gets = vec![self.manifest_get(repo, reference, max_len)];
        gets.extend(referrer_gets.iter().cloned());
        let mut replies = self.wave(repo, gets);
        let first = if replies.is_empty() {
            Err(OciError::NotFound {
                location: url.clone(),
            })
        } else {
            replies.remove(0)
        };
        let manifest = first.and_then(|r| {
            let r = http::success(&url, r)?;
            manifest_from(&url, Some(digest), r)
        });
        if manifest.is_err() {
            return (manifest, None);
        }
        let referrers =
            self.finish_referrers(repo, digest, artifact_type, max, referrer_gets, replies);
        (manifest, Some(referrers))
    }

    /// `<base>/v2/<repo>/<what>`.
    fn location(&self, repo: &str, what: &str) -> String {
        format!("{}/v2/{repo}/{what}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_split_and_next_found() {
        let v = r#"</v2/a/referrers/sha256:x?n=1&last=a,b>; rel="next", <https://x/y>; rel=prev"#;
        let links = split_links(v);
        assert_eq!(links.len(), 2);
        assert_eq!(
            link_next(links[0]),
            Some("/v2/a/referrers/sha256:x?n=1&last=a,b")
        );
        assert_eq!(link_next(links[1]), None);
        assert_eq!(link_next(r#"<u>; rel="prev next""#), Some("u"));
        assert_eq!(link_next(r#"<u>; title="next""#), None);
        assert_eq!(link_next("u; rel=next"), None);
    }

    #[test]
    fn name_unknown_is_told_apart() {
        assert!(name_unknown(
            br#"{"errors":[{"code":"NAME_UNKNOWN","message":"x"}]}"#
        ));
        assert!(!name_unknown(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#
        ));
        assert!(!name_unknown(b"404 page not found"));
    }

    fn plain_http(host: &str) -> RegistrySource {
        let options = RegistryOptions {
            insecure: true,
            ..Default::default()
        };
        RegistrySource::new(host, options).unwrap()
    }

    #[test]
    fn urls() {
        let r = RegistrySource::new("localhost:5000", RegistryOptions::default()).unwrap();
        let d = Digest([0xab; 32]);
        assert_eq!(
            r.referrers_url("a/b", &d, Some("application/vnd.cncf.notary.signature")),
            format!("https://localhost:5000/v2/a/b/referrers/{d}?artifactType=application%2Fvnd.cncf.notary.signature")
        );
        assert_eq!(
            r.manifest_url("a", &Reference::referrers_tag(&d)),
            format!("https://localhost:5000/v2/a/manifests/sha256-{}", d.hex())
        );
        let hub = plain_http("docker.io");
        assert_eq!(hub.base_url(), "http://registry-1.docker.io");
        assert!(RegistrySource::new("bad host", RegistryOptions::default()).is_err());
        assert!(hub.plain_http_off_loopback());
        assert!(!r.plain_http_off_loopback());
        let lo = plain_http("127.0.0.1:5000");
        assert!(!lo.plain_http_off_loopback());
    }
}
