//! Finding image references in text files and rewriting them to verified digests: Kubernetes
//! and compose YAML (`image: X`) and Dockerfiles (`FROM X [AS y]`). Pure text in, text out; what
//! digest each reference gets is decided elsewhere (by verification).

use std::collections::BTreeMap;

use crate::reference::{Digest, ImageRef};

/// One image reference found in a text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Line number, from 0.
    pub line: usize,
    /// Byte range of the reference within the line.
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Image references in Kubernetes/compose YAML (`image: X`, `- image: X`) and Dockerfiles
/// (exactly `FROM [--flag=...]... X [AS name]`). Build stages, `scratch` and references holding
/// variables (`$`, `{`) are left alone.
pub fn find_references(text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut stages: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let mut push = |start: usize, word: &str| {
            let word = word.trim_matches(|c| c == '"' || c == '\'');
            if word.is_empty() || word.contains('$') || word.contains('{') {
                return;
            }
            if let Some(off) = line[start..].find(word) {
                out.push(Found {
                    line: n,
                    start: start + off,
                    end: start + off + word.len(),
                    text: word.to_owned(),
                });
            }
        };
        // YAML: `image: X` or `- image: X`.
        let yaml = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        if let Some(rest) = yaml.strip_prefix("image:") {
            let value = rest.split('#').next().unwrap_or("").trim();
            let start = indent + (trimmed.len() - yaml.len()) + "image:".len();
            push(start, value);
            continue;
        }
        // Dockerfile: exactly `FROM [--flag=...]... X [AS name]` (so `from os import path` in a
        // script is not taken for one).
        let mut words = trimmed.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            let rest: Vec<&str> = words.collect();
            let args: Vec<&&str> = rest.iter().skip_while(|w| w.starts_with("--")).collect();
            let shaped = match args.as_slice() {
                [_] => true,
                [_, as_kw, _] => as_kw.eq_ignore_ascii_case("AS"),
                _ => false,
            };
            if !shaped {
                continue;
            }
            let mut it = args.into_iter();
            if let Some(image) = it.next() {
                let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(image));
                if !is_stage && !image.eq_ignore_ascii_case("scratch") {
                    let start = indent + trimmed.find(image).unwrap_or(0);
                    push(start, image);
                }
                if it.next().is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
                    if let Some(name) = it.next() {
                        stages.push((*name).to_owned());
                    }
                }
            }
        }
    }
    out
}

/// `name:tag@sha256:...`, keeping the name and tag as the user wrote them. A digest-only
/// reference (verified to be signed) stays as it is: no tag is claimed for it.
pub fn pinned_reference(found: &str, image: &ImageRef, digest: &Digest) -> String {
    if image.digest.is_some() && image.tag.is_none() {
        return found.to_owned();
    }
    let without_digest = found.split('@').next().unwrap_or(found);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name_tag = if last.contains(':') {
        without_digest.to_owned()
    } else {
        format!(
            "{without_digest}:{}",
            image.tag.as_deref().unwrap_or("latest")
        )
    };
    format!("{name_tag}@{digest}")
}

/// A rewritten file: the new text, and each changed line's old text by line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub text: String,
    pub changed: BTreeMap<usize, String>,
}

impl Rewrite {
    /// The new text of a changed line.
    pub fn new_line(&self, n: usize) -> Option<&str> {
        self.text.split('\n').nth(n)
    }
}

/// Replace each found reference that has a replacement (`None`: leave it) in `text`. Lines are
/// rewritten right to left so byte ranges stay valid; line breaks are kept exactly.
pub fn rewrite(text: &str, found: &[Found], replacements: &[Option<String>]) -> Rewrite {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut changed: BTreeMap<usize, String> = BTreeMap::new();
    for (f, new) in found.iter().zip(replacements).rev() {
        let Some(new) = new else { continue };
        if *new == f.text {
            continue;
        }
        let Some(line) = lines.get_mut(f.line) else {
            continue;
        };
        if line.get(f.start..f.end) != Some(f.text.as_str()) {
            continue;
        }
        changed.entry(f.line).or_insert_with(|| line.clone());
        line.replace_range(f.start..f.end, new);
    }
    Rewrite {
        text: lines.join("\n"),
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    const D: &str = "sha256:c93f7e4e55ad6b5dfa9b4b3b0e7e4e3e9f4d0d4b1a0f7d6e9e4c1b2a3d4e5f60";

    fn texts(text: &str) -> Vec<String> {
        find_references(text).into_iter().map(|f| f.text).collect()
    }

    #[test]
    fn yaml_image_lines_are_found_with_quotes_lists_and_comments() {
        let yaml = "spec:\n  containers:\n  - name: a\n    image: nginx:1.25 # web\n  - image: \"docker.io/library/redis\"\n    image: 'ghcr.io/x/y@sha256:abc'\n";
        assert_eq!(
            texts(yaml),
            [
                "nginx:1.25",
                "docker.io/library/redis",
                "ghcr.io/x/y@sha256:abc"
            ]
        );
        let f = &find_references(yaml)[0];
        assert_eq!(
            (f.line, &yaml.lines().nth(3).unwrap()[f.start..f.end]),
            (3, "nginx:1.25")
        );
    }

    #[test]
    fn dockerfile_from_lines_skip_stages_scratch_flags_and_variables() {
        let df = "FROM --platform=linux/amd64 golang:1.22 AS build\nFROM build AS test\nfrom scratch\nFROM ${BASE}\nFROM $BASE:1\nFROM alpine:3.19\nRUN from os import path\n";
        assert_eq!(texts(df), ["golang:1.22", "alpine:3.19"]);
    }

    #[test]
    fn lines_that_only_look_like_references_are_left_alone() {
        assert!(texts("from os import path\nFROM a b c\n# image: x\nnot_image: y\n").is_empty());
    }

    #[test]
    fn a_pinned_reference_keeps_name_and_tag_as_written() {
        let digest = Digest::parse(D).unwrap();
        let pin = |s: &str| pinned_reference(s, &reference::parse(s).unwrap(), &digest);
        assert_eq!(pin("nginx"), format!("nginx:latest@{D}"));
        assert_eq!(pin("nginx:1.25"), format!("nginx:1.25@{D}"));
        assert_eq!(
            pin("localhost:5000/app"),
            format!("localhost:5000/app:latest@{D}")
        );
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(pin(&format!("app:v1@{other}")), format!("app:v1@{D}"));
        let digest_only = format!("app@{D}");
        assert_eq!(pin(&digest_only), digest_only);
    }

    #[test]
    fn rewrite_replaces_right_to_left_and_reports_old_lines() {
        let text = "image: a:1\nFROM b:2 AS x\nimage: c:3\n";
        let found = find_references(text);
        let rw = rewrite(
            text,
            &found,
            &[Some("a:1@sha256:aa".into()), None, Some("c:3".into())],
        );
        assert_eq!(rw.text, "image: a:1@sha256:aa\nFROM b:2 AS x\nimage: c:3\n");
        assert_eq!(rw.changed.len(), 1);
        assert_eq!(rw.changed[&0], "image: a:1");
        assert_eq!(rw.new_line(0), Some("image: a:1@sha256:aa"));
    }

    #[test]
    fn two_references_on_one_line_are_both_rewritten() {
        let text = "  - image: x:1";
        let mut found = find_references(text);
        found.push(Found {
            line: 0,
            start: 4,
            end: 9,
            text: "image".into(),
        });
        found.sort_by_key(|f| f.start);
        let rw = rewrite(text, &found, &[Some("IMAGE".into()), Some("x:1@d".into())]);
        assert_eq!(rw.text, "  - IMAGE: x:1@d");
    }

    #[test]
    fn a_stale_range_is_not_rewritten() {
        let found = vec![Found {
            line: 0,
            start: 0,
            end: 3,
            text: "abc".into(),
        }];
        let rw = rewrite("xyz", &found, &[Some("new".into())]);
        assert_eq!(rw.text, "xyz");
        assert!(rw.changed.is_empty());
    }
}
