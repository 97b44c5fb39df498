//! Finding image references in text files and rewriting them to verified digests: Kubernetes
//! and compose YAML (`image: X`, block or flow style), Dockerfiles (`FROM X [AS y]`,
//! `COPY --from=X`, and `ARG NAME=X` when a `FROM` uses `$NAME` whole); saying which other
//! image-looking strings are left alone; and the unified diff of a rewrite. Pure text in, text
//! out; what digest each reference gets is decided elsewhere (by verification).

use std::collections::BTreeMap;

use crate::reference::{self, Digest, ImageRef};

/// Where a reference was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `image: X` in block or flow YAML.
    Yaml,
    /// `FROM X`.
    From,
    /// `COPY --from=X`.
    CopyFrom,
    /// `ARG NAME=X`, where a `FROM` uses `$NAME` or `${NAME}` as its whole image.
    Arg,
}

/// One image reference found in a text file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Line number, from 0.
    pub line: usize,
    /// Byte range of the reference within the line.
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub kind: Kind,
}

/// An image-looking string that is not rewritten, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    /// Line number, from 0.
    pub line: usize,
    pub text: String,
    pub why: &'static str,
}

/// Why a string is left alone.
pub const HOLDS_A_VARIABLE: &str = "it holds a variable";
pub const NOT_AN_IMAGE_FIELD: &str =
    "not an `image:` field, a FROM or COPY --from line, or an ARG a FROM uses whole";
pub const IN_A_COMMENT: &str = "in a comment";

/// What a line holds that pinning cares about.
struct Scan {
    found: Vec<Found>,
    left: Vec<LeftAlone>,
}

/// Image references in Kubernetes/compose YAML (`image: X`, `- image: X`, `{..., image: X}`) and
/// Dockerfiles (exactly `FROM [--flag=...]... X [AS name]`, `COPY [--flag]... --from=X ...`, and
/// the default of `ARG NAME=X` when a later `FROM` is `$NAME` or `${NAME}`). Build stages,
/// `scratch`, stage indexes and references holding variables (`$`, `{`) are left alone. In line
/// order.
pub fn find_references(text: &str) -> Vec<Found> {
    scan(text).found
}

/// Image-looking strings [`find_references`] does not return: references holding variables, and
/// tokens shaped like `host/name:tag` or `name@sha256:...` that parse as references anywhere
/// else (an annotation, a command line, a comment).
pub fn left_alone(text: &str) -> Vec<LeftAlone> {
    scan(text).left
}

fn scan(text: &str) -> Scan {
    let mut sc = Scan {
        found: Vec::new(),
        left: Vec::new(),
    };
    let mut stages: Vec<String> = Vec::new();
    // ARG name → its last definition (line, start, value).
    let mut args: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('#') {
            sc.loose_tokens(n, line, IN_A_COMMENT);
            continue;
        }
        // YAML, block style: `image: X` or `- image: X`.
        let yaml = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        if let Some(rest) = yaml.strip_prefix("image:") {
            let value = rest.split(" #").next().unwrap_or("").trim();
            let start = indent + (trimmed.len() - yaml.len()) + "image:".len();
            sc.push(n, line, start, value, Kind::Yaml);
            continue;
        }
        // YAML, flow style: `{name: a, image: X}`.
        let mut flow = false;
        for (start, value) in flow_images(line) {
            sc.push(n, line, start, value, Kind::Yaml);
            flow = true;
        }
        if flow {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let first = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        if first.eq_ignore_ascii_case("FROM") {
            sc.on_from_line(n, line, &rest, &mut stages, &args);
        } else if first.eq_ignore_ascii_case("COPY") {
            sc.on_copy_line(n, line, &rest, &stages);
        } else if first.eq_ignore_ascii_case("ARG") {
            for a in &rest {
                if let Some((name, value)) = a.split_once('=') {
                    let start = line.find(*a).unwrap_or(0) + name.len() + 1;
                    args.insert(name.to_owned(), (n, start, value.to_owned()));
                }
            }
        }
    }
    // Every ARG a FROM did not use whole may still look like an image.
    sc.found.sort_by_key(|f| (f.line, f.start));
    sc.found.dedup_by_key(|f| (f.line, f.start));
    for (line, _, value) in args.values() {
        let word = unquote(value);
        let used = sc.found.iter().any(|f| f.line == *line && f.text == word);
        if !used && looks_like_image(word) {
            sc.left.push(LeftAlone {
                line: *line,
                text: word.to_owned(),
                why: "an ARG no FROM uses as its whole image",
            });
        }
    }
    // Loose tokens on lines with no reference found.
    let lines: Vec<&str> = text.split('\n').collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.to_ascii_uppercase().starts_with("ARG ") {
            continue;
        }
        let on_line: Vec<&Found> = sc.found.iter().filter(|f| f.line == n).collect();
        let left_here = sc.left.iter().any(|l| l.line == n);
        for (start, tok) in tokens(line) {
            let taken = on_line
                .iter()
                .any(|f| f.start <= start && start < f.end.max(f.start + 1));
            if !taken && !left_here && looks_like_image(tok) {
                sc.left.push(LeftAlone {
                    line: n,
                    text: tok.to_owned(),
                    why: NOT_AN_IMAGE_FIELD,
                });
            }
        }
    }
    sc.left.sort_by_key(|l| l.line);
    sc
}

impl Scan {
    /// A reference candidate `word` at `start` of `line`: found, or left alone for a variable.
    fn push(&mut self, n: usize, line: &str, start: usize, word: &str, kind: Kind) {
        let word = unquote(word);
        if word.is_empty() {
            return;
        }
        if word.contains('$') || word.contains('{') {
            self.left.push(LeftAlone {
                line: n,
                text: word.to_owned(),
                why: HOLDS_A_VARIABLE,
            });
            return;
        }
        if let Some(off) = line.get(start..).and_then(|l| l.find(word)) {
            self.found.push(Found {
                line: n,
                start: start + off,
                end: start + off + word.len(),
                text: word.to_owned(),
                kind,
            });
        }
    }

    /// Exactly `FROM [--flag=...]... X [AS name]` (so `from os import path` in a script is not
    /// taken for one). `$NAME`/`${NAME}` whole: the ARG's default is the reference.
    fn on_from_line(
        &mut self,
        n: usize,
        line: &str,
        rest: &[&str],
        stages: &mut Vec<String>,
        args: &BTreeMap<String, (usize, usize, String)>,
    ) {
        let words: Vec<&&str> = rest.iter().skip_while(|w| w.starts_with("--")).collect();
        let shaped = match words.as_slice() {
            [_] => true,
            [_, as_kw, _] => as_kw.eq_ignore_ascii_case("AS"),
            _ => false,
        };
        if !shaped {
            return;
        }
        let image = *words[0];
        let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(image));
        if let [_, _, name] = words.as_slice() {
            stages.push((**name).to_owned());
        }
        if is_stage || image.eq_ignore_ascii_case("scratch") {
            return;
        }
        let arg = whole_variable(image).and_then(|name| args.get(name));
        if let Some((arg_line, start, raw)) = arg {
            let word = unquote(raw);
            if !word.is_empty() && !word.contains('$') {
                let start = start + raw.find(word).unwrap_or(0);
                self.found.push(Found {
                    line: *arg_line,
                    start,
                    end: start + word.len(),
                    text: word.to_owned(),
                    kind: Kind::Arg,
                });
                return;
            }
        }
        let start = line.find(image).unwrap_or(0);
        self.push(n, line, start, image, Kind::From);
    }

    /// `COPY [--flag]... --from=X ...`: X unless a stage name, a stage index or a variable.
    fn on_copy_line(&mut self, n: usize, line: &str, rest: &[&str], stages: &[String]) {
        for w in rest.iter().take_while(|w| w.starts_with("--")) {
            let Some(from) = w.strip_prefix("--from=") else {
                continue;
            };
            let word = unquote(from);
            let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(word));
            if is_stage || word.bytes().all(|b| b.is_ascii_digit()) {
                return;
            }
            let start = line.find(w).unwrap_or(0) + "--from=".len();
            self.push(n, line, start, word, Kind::CopyFrom);
        }
    }

    /// Image-looking tokens of a line that is only text (a comment): each left alone, `why`.
    fn loose_tokens(&mut self, n: usize, line: &str, why: &'static str) {
        for (_, tok) in tokens(line) {
            if looks_like_image(tok) {
                self.left.push(LeftAlone {
                    line: n,
                    text: tok.to_owned(),
                    why,
                });
            }
        }
    }
}
/// `word` without one pair of surrounding quotes.
fn unquote(word: &str) -> &str {
    let w = word.trim();
    for q in ['"', '\''] {
        if let Some(inner) = w.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return inner;
        }
    }
    w.trim_matches(|c| c == '"' || c == '\'')
}

/// `NAME` of `$NAME` or `${NAME}`, when that is the whole word.
fn whole_variable(word: &str) -> Option<&str> {
    let name = word
        .strip_prefix("${")
        .and_then(|w| w.strip_suffix('}'))
        .or_else(|| word.strip_prefix('$'))?;
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(name)
}

/// `image:` keys inside flow mappings of `line` (`{name: a, image: X}`): the byte offset after
/// each `image:` and its raw value (up to `,`, `}` or ` #`).
fn flow_images(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let open = line.find('{');
    line.match_indices("image:").filter_map(move |(i, _)| {
        let before = line[..i].trim_end();
        let in_flow =
            open.is_some_and(|o| o < i) && (before.ends_with('{') || before.ends_with(','));
        if !in_flow {
            return None;
        }
        let start = i + "image:".len();
        let rest = &line[start..];
        let value = match rest.trim_start().chars().next() {
            Some(q @ ('"' | '\'')) => {
                let lead = rest.len() - rest.trim_start().len();
                let close = rest[lead + 1..]
                    .find(q)
                    .map_or(rest.len(), |c| lead + c + 2);
                &rest[..close]
            }
            _ => {
                // up to a `,` or `}` outside braces the value opens (`${VAR}`, `{{ x }}`)
                let mut depth = 0usize;
                let end = rest
                    .char_indices()
                    .find(|&(j, c)| match c {
                        '{' => {
                            depth += 1;
                            false
                        }
                        '}' if depth > 0 => {
                            depth -= 1;
                            false
                        }
                        ',' | '}' => depth == 0,
                        '#' => rest[..j].ends_with(' '),
                        _ => false,
                    })
                    .map_or(rest.len(), |(j, _)| j);
                &rest[..end]
            }
        };
        Some((start, value))
    })
}

/// The tokens of a line (split at white space, quotes, `=`, `,`, brackets), with their offsets.
fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let is_sep = |c: char| c.is_whitespace() || "\"'=,[](){}<>;|`".contains(c);
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line
        .char_indices()
        .chain(std::iter::once((line.len(), ' ')))
    {
        match (is_sep(c), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out.into_iter()
}

/// Shaped like an image reference someone would pin: `name@sha256:<hex>`, or a path with a
/// registry or namespace and a tag (`host/name:tag`), that parses as a reference; never a URL.
pub fn looks_like_image(tok: &str) -> bool {
    let tok = tok.trim_end_matches(['.', ':', ')']);
    if tok.contains("://") || tok.starts_with('-') || tok.starts_with('/') {
        return false;
    }
    let path = tok.split('@').next().unwrap_or(tok);
    let last = path.rsplit('/').next().unwrap_or(path);
    let shaped = tok.contains("@sha256:") || (path.contains('/') && last.contains(':'));
    shaped && reference::parse(tok).is_ok()
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

/// Lines of context around each change in [`unified_diff`], as `diff -u` and git use.
pub const CONTEXT: usize = 3;

/// The unified diff from `old` to `new` (the same lines but for one-for-one replacements, as
/// [`rewrite`] makes), with [`CONTEXT`] lines of context, hunks merged where their contexts
/// meet, and `\ No newline at end of file` where the last line has none: what `git apply` and
/// `patch -p1` accept. `name` is the path both sides are named by (`a/NAME`, `b/NAME`). Empty when
/// nothing changed.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let changed: Vec<usize> = (0..a.len().max(b.len()))
        .filter(|&i| a.get(i) != b.get(i))
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    debug_assert_eq!(a.len(), b.len(), "rewrites replace lines one for one");
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let (start, end) = (i.saturating_sub(CONTEXT), (i + CONTEXT + 1).min(a.len()));
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    let line = |out: &mut String, sign: char, text: &str| {
        out.push(sign);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    for (start, end) in hunks {
        let len = end - start;
        out.push_str(&format!("@@ -{0},{len} +{0},{len} @@\n", start + 1));
        let mut i = start;
        while i < end {
            if a[i] == b[i] {
                line(&mut out, ' ', a[i]);
                i += 1;
                continue;
            }
            // a run of changed lines: all old lines, then all new ones
            let run_end = (i..end).find(|&j| a[j] == b[j]).unwrap_or(end);
            for old_line in &a[i..run_end] {
                line(&mut out, '-', old_line);
            }
            for new_line in &b[i..run_end] {
                line(&mut out, '+', new_line);
            }
            i = run_end;
        }
    }
    out
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
            kind: Kind::Yaml,
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
            kind: Kind::From,
        }];
        let rw = rewrite("xyz", &found, &[Some("new".into())]);
        assert_eq!(rw.text, "xyz");
        assert!(rw.changed.is_empty());
    }

    fn found(text: &str) -> Vec<(usize, String, Kind)> {
        find_references(text)
            .into_iter()
            .map(|f| (f.line, f.text, f.kind))
            .collect()
    }

    /// `found`, after checking that every range holds exactly the reference's text (so a rewrite
    /// lands on the reference).
    fn found_at_exact_ranges(text: &str) -> Vec<(usize, String, Kind)> {
        for f in find_references(text) {
            assert_eq!(&text.lines().nth(f.line).unwrap()[f.start..f.end], f.text);
        }
        found(text)
    }

    fn left(text: &str) -> Vec<(usize, String, &'static str)> {
        left_alone(text)
            .into_iter()
            .map(|l| (l.line, l.text, l.why))
            .collect()
    }

    #[test]
    fn flow_style_yaml_images_are_found() {
        let yaml = "containers: [{name: a, image: nginx:1.25}, {image: \"redis:7\", name: b}]\n- {name: c, image: 'ghcr.io/x/y:v1' } # c\nother: {image: ${IMG}}\n";
        assert_eq!(
            found_at_exact_ranges(yaml),
            [
                (0, "nginx:1.25".into(), Kind::Yaml),
                (0, "redis:7".into(), Kind::Yaml),
                (1, "ghcr.io/x/y:v1".into(), Kind::Yaml),
            ]
        );
        assert_eq!(left(yaml), [(2, "${IMG}".into(), HOLDS_A_VARIABLE)]);
        // a quoted `image:` inside a string is not a key
        assert!(found("msg: \"image: nginx:1.25\"\n").is_empty());
    }

    #[test]
    fn dockerfile_args_used_whole_by_from_and_copy_from_are_found() {
        let df = "ARG BASE=alpine:3.19\nARG TOOLS=\"example.com/tools:v2\"\nARG VERSION=1.2\nARG UNUSED=example.com/x/y:v9\nFROM ${BASE} AS build\nCOPY --from=example.com/assets:v3 /a /a\nCOPY --from=build /out /out\nCOPY --from=0 /x /x\nCOPY --chown=1 --from=$TOOLS /t /t\nFROM $TOOLS\nFROM ${BASE}:edge\n";
        assert_eq!(
            found_at_exact_ranges(df),
            [
                (0, "alpine:3.19".into(), Kind::Arg),
                (1, "example.com/tools:v2".into(), Kind::Arg),
                (5, "example.com/assets:v3".into(), Kind::CopyFrom),
            ]
        );
        assert_eq!(
            left(df),
            [
                (
                    3,
                    "example.com/x/y:v9".into(),
                    "an ARG no FROM uses as its whole image"
                ),
                (8, "$TOOLS".into(), HOLDS_A_VARIABLE),
                (10, "${BASE}:edge".into(), HOLDS_A_VARIABLE),
            ]
        );
    }

    #[test]
    fn image_looking_strings_elsewhere_are_left_alone_with_a_reason() {
        let yaml = "metadata:\n  annotations:\n    note: \"image: example.com/batch/repo09:v1 is not an image\"\n# image: example.com/old/app:v1\nspec:\n  args: [\"--sidecar=registry.k8s.io/pause:3.9\"]\n  image: example.com/app:v1\napiVersion: apps/v1\nurl: https://example.com/a/b:80\nkubernetes.io/hostname: node1\n";
        assert_eq!(found(yaml), [(6, "example.com/app:v1".into(), Kind::Yaml)]);
        assert_eq!(
            left(yaml),
            [
                (2, "example.com/batch/repo09:v1".into(), NOT_AN_IMAGE_FIELD),
                (3, "example.com/old/app:v1".into(), IN_A_COMMENT),
                (5, "registry.k8s.io/pause:3.9".into(), NOT_AN_IMAGE_FIELD),
            ]
        );
        assert!(looks_like_image(&format!("app@{D}")));
        assert!(
            !looks_like_image("nginx:1.25"),
            "no namespace: too like `key:value`"
        );
        assert!(!looks_like_image("apps/v1"));
    }

    #[test]
    fn the_diff_has_context_merged_hunks_and_marks_a_missing_last_newline() {
        let old = "1\n2\n3\n4\nimage: a:1\n6\n7\n8\n9\n10\n11\n12\nimage: b:2\n14\n15\n16\n17\n18\n19\n20\n21\nimage: c:3";
        let new = old
            .replace("a:1", "a:1@x")
            .replace("b:2", "b:2@y")
            .replace("c:3", "c:3@z");
        let diff = unified_diff("k8s/app.yaml", old, &new);
        assert_eq!(
            diff,
            "--- a/k8s/app.yaml\n+++ b/k8s/app.yaml\n\
             @@ -2,7 +2,7 @@\n 2\n 3\n 4\n-image: a:1\n+image: a:1@x\n 6\n 7\n 8\n\
             @@ -10,7 +10,7 @@\n 10\n 11\n 12\n-image: b:2\n+image: b:2@y\n 14\n 15\n 16\n\
             @@ -19,4 +19,4 @@\n 19\n 20\n 21\n-image: c:3\n\\ No newline at end of file\n+image: c:3@z\n\\ No newline at end of file\n"
        );
        // changes whose contexts meet make one hunk; CRLF lines stay as they are
        let old = "image: a:1\r\nx\r\nimage: b:2\r\n";
        let new = old.replace("a:1", "a:1@x").replace("b:2", "b:2@y");
        assert_eq!(
            unified_diff("Dockerfile", old, &new),
            "--- a/Dockerfile\n+++ b/Dockerfile\n@@ -1,3 +1,3 @@\n-image: a:1\r\n+image: a:1@x\r\n x\r\n-image: b:2\r\n+image: b:2@y\r\n"
        );
        assert_eq!(unified_diff("f", "same\n", "same\n"), "");
    }
}
