//! Hostile trust data, part 2: the chain timestamp → snapshot → root/targets → delegations.
//! Versions, freeze (expiry), mix-and-match (hashes and lengths), `_type`, delegation names and
//! paths, duplicate keys, non-canonical and malformed JSON, hostile repository names. Each test
//! asserts the exit code (or the library error) and the words of the refusal. "notary:" comments
//! give the real notary 0.7.0 client's verdict on the same repository, where it was run.

mod common;
use common::builder;

use common::builder::{
    at_path, days, json_paths, notary_agrees, notary_available, notary_opinion, notary_refuses,
    now, rfc3339, RepoBuilder,
};
use common::sha256_hex;
use serde_json::{json, Value};
use trustpin::tuf::level::Level;

const GUN: &str = "example.com/hostile/chain";
const IMAGE: &[u8] = b"the real image";
const EVIL: &[u8] = b"the attacker's image";

fn repo() -> RepoBuilder {
    let mut r = RepoBuilder::new(GUN);
    r.tag("targets", "v1", IMAGE);
    r
}

fn accepted(out: &common::Output, content: &[u8]) {
    out.expect_pinned(GUN, &sha256_hex(content), "accepted");
}

fn with_releases() -> RepoBuilder {
    let mut r = repo();
    r.delegate("targets", "targets/releases", &[""])
        .tag("targets/releases", "v2", b"release two");
    r
}

// ---- versions --------------------------------------------------------------------------------

#[test]
fn version_2_pow_31_minus_1_is_accepted_in_every_role() {
    let mut r = with_releases();
    for role in common::ROLES {
        r.edit_signed(role, |s| s["version"] = json!(2147483647));
    }
    let built = r.build();
    accepted(&built.cli(&["v1"], &[]), IMAGE);
    let out = built.cli(&["v2"], &["--delegation", "releases"]);
    accepted(&out, b"release two");
    if notary_available() {
        // notary: also accepts.
        assert!(notary_opinion(&built, "v1").is_ok());
    }
}

/// [`repo`] with the first `"version"` of `role`'s file written as `literal` (after signing).
fn with_version_written_as(role: &str, literal: &str) -> RepoBuilder {
    let mut r = repo();
    let literal = literal.to_owned();
    r.edit_bytes(role, move |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        let at = s.find("\"version\":").unwrap();
        let end = at + s[at..].find([',', '}']).unwrap();
        *b = format!("{}\"version\":{literal}{}", &s[..at], &s[end..]).into_bytes();
    });
    r
}

#[test]
fn versions_beyond_2_pow_53_are_refused_as_unsafe_numbers() {
    // 2^53 + 1 and 2^63 cannot round-trip through a float64 (Go's JSON numbers): the signed form
    // would be ambiguous. The builder signs what it writes; trustpin refuses to parse it.
    for (role, n) in [
        ("timestamp", "9007199254740993"),
        ("snapshot", "9223372036854775808"),
        ("targets", "9007199254740993"),
        ("root", "9223372036854775808"),
    ] {
        let built = with_version_written_as(role, n).build();
        built.cli(&["v1"], &[]).expect(
            1,
            &[&format!(
                "{role}.json: invalid JSON: integer {n} is outside ±2^53"
            )],
        );
        if role == "timestamp" && notary_available() {
            // notary: also refuses, though only because the signature no longer verifies over
            // its float64 re-encoding of the number.
            assert!(notary_opinion(&built, "v1").is_err());
        }
    }
}

#[test]
fn version_zero_negative_or_not_an_integer_is_refused() {
    for (v, words) in [
        (json!(0), "field `signed.version`: 0 is below 1"),
        (json!(-5), "field `signed.version`: -5 is below 1"),
        (
            json!("1"),
            "field `signed.version`: expected integer, got string",
        ),
        (
            json!(null),
            "field `signed.version`: expected integer, got null",
        ),
    ] {
        let mut r = repo();
        r.edit_signed("snapshot", move |s| s["version"] = v.clone());
        r.refuses_v1(&["snapshot.json", words]);
    }
}

#[test]
fn version_going_down_across_runs_is_refused_as_rollback_with_a_cache() {
    // Run 1 sees timestamp/snapshot/targets version 5; run 2 is served version 3 of each, all
    // validly signed (an old copy replayed): refused, with the trust cache. Without state, a
    // stateless run cannot tell (and that is documented).
    let mut r = repo();
    for role in ["timestamp", "snapshot", "targets"] {
        r.signed(role)["version"] = json!(5);
    }
    let newer = r.build();
    r.tag("targets", "v1", EVIL);
    for role in ["timestamp", "snapshot", "targets"] {
        r.signed(role)["version"] = json!(3);
    }
    let older = r.build();
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("root.pub");
    std::fs::write(&key, &newer.pinned_pem).unwrap();
    let run = |b: &builder::Built| {
        b.write_to(dir.path());
        builder::trustpin(&[
            "resolve",
            &format!("{GUN}:v1"),
            "--metadata-dir",
            &dir.path().display().to_string(),
            "--root-key",
            &key.display().to_string(),
            "--cache-dir",
            &cache_arg,
        ])
    };
    accepted(&run(&newer), IMAGE);
    run(&older).expect(
        1,
        &[
            "rollback: ",
            "version 3 is older than version 5 seen before",
        ],
    );
    // Without the cache the replay is not detectable (still within its expiry: freeze bound).
    accepted(&older.cli(&["v1"], &[]), EVIL);
}

// ---- freeze: expiry ----------------------------------------------------------------------------

#[test]
fn expired_top_level_roles_are_refused_and_permissive_only_warns() {
    let past = now() - days(1);
    for role in common::TOP_ROLES {
        let mut r = repo();
        r.expires(role, past);
        let built = r.build();
        let words = format!("{role}.json expired at {}", rfc3339(past));
        built
            .cli(&["v1"], &[])
            .expect(1, &[&words, "(verifying at"]);
        let out = built.cli(&["v1"], &["--level", "permissive"]);
        accepted(&out, IMAGE);
        assert!(
            out.stderr.contains(&words) && out.stderr.contains("accepted at level permissive"),
            "{role}: {}",
            out.describe()
        );
        // notary: also refuses an expired role (it reports the expiry, or having no valid data).
        notary_refuses(&built, "v1", &[]);
    }
}

#[test]
fn expired_delegation_is_not_used_and_a_required_one_refuses() {
    let past = now() - days(1);
    let mut r = with_releases();
    r.tag("targets/releases", "v1", EVIL);
    r.expires("targets/releases", past);
    let built = r.build();
    // v1: releases (which would say EVIL) is expired, so targets decides.
    let out = built.cli(&["v1"], &[]);
    accepted(&out, IMAGE);
    assert!(
        out.stderr.contains("delegation targets/releases not used")
            && out.stderr.contains("targets/releases.json expired at"),
        "{}",
        out.describe()
    );
    built.cli(&["v2"], &["--delegation", "releases"]).expect(
        1,
        &[
            "required delegation targets/releases cannot be used",
            "targets/releases.json expired at",
        ],
    );
    // Permissive: the delegation counts again, with a warning.
    let out = built.cli(
        &["v2"],
        &["--delegation", "releases", "--level", "permissive"],
    );
    accepted(&out, b"release two");
    out.expect_stderr(&["accepted at level permissive"], "");
}

#[test]
fn verification_time_is_honoured_for_archives() {
    // The same repository, verified as of 20 days ahead: the timestamp (14 days) has expired.
    let built = repo().build();
    let later = rfc3339(now() + days(20));
    built
        .cli(&["v1"], &["--at", &later])
        .expect(1, &["timestamp.json expired at"]);
}

#[test]
fn expiry_that_is_not_rfc3339_as_go_writes_it_is_refused_naming_the_field() {
    // Go (notary) reads only `T`, `Z` and at most 9 fraction digits; the `time` crate alone
    // would also take a space, `t`, `z` and longer fractions. A parser differential on the expiry
    // is refused rather than read differently.
    let future = now() + days(30);
    let date = rfc3339(future);
    let (d, t) = date.split_once('T').unwrap();
    for bad in [
        "tomorrow".to_owned(),
        "2030-01-01".to_owned(),
        String::new(),
        format!("{d} {t}"),
        format!("{d}t{t}"),
        date.replace('Z', "z"),
        date.replace('Z', ".1234567890Z"),
    ] {
        let mut r = repo();
        let b = bad.clone();
        r.edit_signed("timestamp", move |s| s["expires"] = json!(b));
        r.refuses_v1(&["timestamp.json: field `signed.expires`", "is not RFC 3339"]);
    }
    if notary_available() {
        // notary: also refuses a space ("cannot parse ... as \"T\"").
        let mut r = repo();
        let b = format!("{d} {t}");
        r.edit_signed("timestamp", move |s| s["expires"] = json!(b));
        let err = notary_opinion(&r.build(), "v1").unwrap_err();
        assert!(err.contains("cannot parse"), "{err}");
    }
    // What Go writes is fine: nanoseconds, any offset.
    for good in [
        date.replace('Z', ".123456789Z"),
        date.replace('Z', "+02:00"),
    ] {
        let mut r = repo();
        let g = good.clone();
        r.edit_signed("timestamp", move |s| s["expires"] = json!(g));
        accepted(&r.build().cli(&["v1"], &[]), IMAGE);
    }
}

// ---- mix-and-match: hashes and lengths along the chain -----------------------------------------

/// The first byte after `marker` changed (`A` to `B`, anything else to `A`): same length, other
/// bytes.
fn flip_first_after(b: &mut [u8], marker: &str) {
    let at = String::from_utf8_lossy(b).find(marker).unwrap() + marker.len();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
}

#[test]
fn snapshot_not_what_the_timestamp_names_is_refused() {
    // A different, validly signed snapshot (an older one, say) served with a current timestamp.
    let mut r = repo();
    // Same length, one byte different (inside a base64 hash value).
    r.edit_bytes_after_hash("snapshot", |b| flip_first_after(b, "\"sha256\":\""));
    r.refuses_v1(&["snapshot: sha256 is", ", timestamp says"]);
}

#[test]
fn snapshot_of_another_length_is_refused_before_its_hash() {
    let mut r = repo();
    r.edit_bytes_after_hash("snapshot", |b| b.push(b' '));
    let built = r.build();
    // notary: also refuses ("trust server returned a bad response").
    notary_refuses(&built, "v1", &[]);
    let len = built.get("snapshot").len();
    built.cli(&["v1"], &[]).expect(
        1,
        &[&format!(
            "snapshot: length is {len} bytes, timestamp says {}",
            len - 1
        )],
    );
}

#[test]
fn only_sha512_mismatching_is_still_refused() {
    // Every hash given is checked: a correct sha256 does not excuse a wrong sha512.
    let mut r = repo();
    r.edit_signed("timestamp", |s| {
        s["meta"]["snapshot"]["hashes"]["sha512"] = json!(builder::b64(&[7u8; 64]));
    });
    let built = r.build();
    built
        .cli(&["v1"], &[])
        .expect(1, &["snapshot: sha512 is", "timestamp says 0707070707"]);
    // notary: also refuses ("sha512 checksum for snapshot did not match").
    notary_refuses(
        &built,
        "v1",
        &["sha512 checksum for snapshot did not match"],
    );
}

#[test]
fn targets_not_what_the_snapshot_names_is_refused() {
    // A validly signed targets.json with another digest (re-signed by the targets key, e.g. an
    // old version), while the snapshot still names the current one.
    let mut evil = repo().build();
    let mut other = repo();
    other.tag("targets", "v1", EVIL);
    // Whitespace added after the snapshot hashed the file: the signature still verifies (it
    // covers the canonical form), only the snapshot's length and hash catch it.
    let mut r = repo();
    r.edit_bytes_after_hash("targets", |b| b.insert(1, b' '));
    let built2 = r.build();
    let len = built2.get("targets").len();
    built2.cli(&["v1"], &[]).expect(
        1,
        &[&format!(
            "targets: length is {len} bytes, snapshot says {}",
            len - 1
        )],
    );
    // A whole other targets.json (other repository's, valid for its own keys): same words.
    evil.files
        .insert("targets".into(), other.build().get("targets").to_vec());
    let err = evil.verify_err();
    assert!(
        err.contains("targets:") && err.contains("snapshot says"),
        "{err}"
    );
}

#[test]
fn root_not_what_the_snapshot_names_is_refused() {
    let mut r = repo();
    r.edit_bytes_after_hash("root", |b| b.push(b'\n'));
    r.refuses_v1(&["root: length is", "snapshot says"]);
}

#[test]
fn delegation_not_what_the_snapshot_names_is_not_used() {
    // Same length, other bytes: the hash check refuses the delegation (exit 1, naming it).
    let mut r = with_releases();
    r.edit_bytes_after_hash("targets/releases", |b| flip_first_after(b, "\"sig\":\""));
    let built = r.build();
    built.cli(&["v2"], &["--delegation", "releases"]).expect(
        1,
        &[
            "required delegation targets/releases cannot be used",
            "targets/releases: sha256 is",
            "snapshot says",
        ],
    );
}

#[test]
fn delegation_longer_than_the_snapshot_says_is_not_read_past_that_length() {
    // Endless-data defence: a delegation is fetched with the exact length the snapshot declares
    // as its bound. One byte more and the fetch is refused as over its limit: exit 3 ("could not
    // check", as for any body over its limit), naming the file and the limit.
    let mut r = with_releases();
    r.edit_bytes_after_hash("targets/releases", |b| b.push(b' '));
    let built = r.build();
    let declared = built.get("targets/releases").len() - 1;
    built.cli(&["v2"], &["--delegation", "releases"]).expect(
        3,
        &[
            "targets/releases.json",
            &format!("larger than the limit of {declared} bytes; refused"),
        ],
    );
    // A shorter one is read, and refused by its length.
    let mut r = with_releases();
    r.edit_bytes_after_hash("targets/releases", |b| {
        b.pop();
    });
    r.build()
        .cli(&["v2"], &["--delegation", "releases"])
        .expect(1, &["targets/releases: length is", "snapshot says"]);
}

#[test]
fn snapshot_without_root_or_targets_entry_is_refused() {
    for entry in ["root", "targets"] {
        let mut r = repo();
        let e = entry.to_owned();
        r.edit_signed("snapshot", move |s| {
            s["meta"].as_object_mut().unwrap().remove(&e);
        });
        r.refuses_v1(&[&format!("snapshot.json does not list `{entry}`")]);
    }
}

#[test]
fn timestamp_meta_without_hashes_or_with_short_hash_is_refused() {
    for (hashes, words) in [
        (
            json!({}),
            "field `signed.meta.snapshot.hashes`: neither sha256 nor sha512 given",
        ),
        (
            json!({"sha256": builder::b64(&[1u8; 31])}),
            "field `signed.meta.snapshot.hashes.sha256`: 31 bytes, expected 32",
        ),
    ] {
        let mut r = repo();
        r.edit_signed("timestamp", move |s| {
            s["meta"]["snapshot"]["hashes"] = hashes.clone()
        });
        r.refuses_v1(&["timestamp.json", words]);
    }
}

// ---- wrong _type ----------------------------------------------------------------------------

#[test]
fn wrong_type_is_refused_for_every_role() {
    for (role, ty, expected) in [
        ("root", "Targets", "Root"),
        ("timestamp", "Snapshot", "Timestamp"),
        ("snapshot", "snapshot", "Snapshot"),
        ("targets", "Root", "Targets"),
    ] {
        let mut r = repo();
        r.edit_signed(role, move |s| s["_type"] = json!(ty));
        let built = r.refuses_v1(&[&format!(
            "{role}.json: `signed._type` is \"{ty}\", expected \"{expected}\""
        )]);
        if role == "timestamp" {
            // notary: also refuses ("expected type Timestamp, not Snapshot").
            notary_refuses(&built, "v1", &["expected type Timestamp"]);
        }
    }
    // A delegation that says it is a Root.
    let mut r = with_releases();
    r.edit_signed("targets/releases", |s| s["_type"] = json!("Root"));
    r.build()
        .cli(&["v2"], &["--delegation", "releases"])
        .expect(
            1,
            &["targets/releases.json: `signed._type` is \"Root\", expected \"Targets\""],
        );
}

#[test]
fn a_timestamp_served_as_snapshot_is_refused_signed_or_not() {
    // The timestamp's own (valid) bytes in place of the snapshot: the timestamp's hash catches it.
    let mut built = repo().build();
    let ts = built.get("timestamp").to_vec();
    built.files.insert("snapshot".into(), ts);
    built
        .cli(&["v1"], &[])
        .expect(1, &["snapshot: length is", "timestamp says"]);
}

// ---- delegations: names, paths, snapshot ----------------------------------------------------

fn delegation_refused(name: &str, why: &str) {
    let mut r = repo();
    r.delegate("targets", name, &[""]).tag(name, "v1", EVIL);
    let built = r.build();
    let repo = built.verify().expect("the chain itself stands");
    let d = repo
        .delegation(name)
        .unwrap_or_else(|| panic!("{name} not recorded"));
    let err = d.outcome.as_ref().expect_err(name).to_string();
    assert!(err.contains(why), "{name}: {err}");
    assert!(
        repo.warnings
            .iter()
            .any(|w| w.message.contains(&format!("delegation {name} not used"))),
        "{name}: {:?}",
        repo.warnings
    );
    // Its targets count for nothing: v1 is still the real image.
    let sel =
        trustpin::tuf::select::select(&repo, trustpin::tuf::select::Query::Tag("v1"), &[]).unwrap();
    assert_eq!(sel.digest.hex(), sha256_hex(IMAGE), "{name}");
}

#[test]
fn delegation_name_with_dot_dot_is_refused() {
    delegation_refused("targets/../root", "invalid role name \"targets/../root\"");
    delegation_refused("targets/..", "invalid role name");
    if notary_available() {
        // notary: refuses the whole targets.json ("delegation role targets/../root invalid");
        // trustpin refuses only that delegation, and still answers from targets.
        let mut r = repo();
        r.delegate("targets", "targets/../root", &[""]);
        let err = notary_opinion(&r.build(), "v1").unwrap_err();
        assert!(
            err.contains("delegation role targets/../root invalid"),
            "{err}"
        );
    }
}

#[test]
fn delegation_name_in_upper_case_is_refused() {
    delegation_refused("targets/Releases", "invalid role name \"targets/Releases\"");
}

#[test]
fn delegation_name_without_the_targets_prefix_or_with_odd_characters_is_refused() {
    for name in [
        "releases",
        "targets/",
        "targets//x",
        "targets/a.b",
        "targets/a b",
        "targets/a%2Fb",
    ] {
        delegation_refused(name, "invalid role name");
    }
    delegation_refused(&format!("targets/{}", "a".repeat(250)), "invalid role name");
}

#[test]
fn delegation_that_is_not_a_direct_child_is_refused() {
    delegation_refused(
        "targets/releases/nested",
        "targets may only delegate to its direct children",
    );
}

#[test]
fn delegation_name_on_the_cli_with_dot_dot_is_not_a_path() {
    // `--delegation ../x` names no delegation; it must not turn into a request outside the
    // repository. It is refused (usage or "no such delegation"), never resolved.
    let built = with_releases().build();
    let out = built.cli(&["v2"], &["--delegation", "../../root"]);
    assert!(out.code == 1 || out.code == 2, "{}", out.describe());
    assert!(out.stdout.trim().is_empty(), "{}", out.describe());
    out.expect_stderr(&["targets/../../root"], "");
}

#[test]
fn targets_outside_a_delegations_paths_are_ignored_with_a_warning() {
    let mut r = repo();
    r.delegate("targets", "targets/releases", &["release-"])
        .tag("targets/releases", "release-1", b"r1")
        .tag("targets/releases", "v1", EVIL);
    let built = r.build();
    // releases signed v1 outside its paths: ignored, so targets decides v1.
    let out = built.cli(&["v1"], &[]);
    accepted(&out, IMAGE);
    out.expect_stderr(
        &["targets/releases signed 1 target(s) outside its paths [\"release-\"]: ignored"],
        "",
    );
    accepted(&built.cli(&["release-1"], &[]), b"r1");
    built.cli(&["v1"], &["--delegation", "releases"]).expect(
        1,
        &["required delegation targets/releases did not sign tag \"v1\""],
    );
    // notary: also ignores it (lookup v1 gives the targets digest).
    notary_agrees(&built, "v1", IMAGE);
}

#[test]
fn child_widening_its_parents_paths_is_not_used() {
    let mut r = repo();
    r.delegate("targets", "targets/releases", &["release-"]);
    r.delegate("targets/releases", "targets/releases/team", &[""])
        .tag("targets/releases/team", "v1", EVIL);
    let built = r.build();
    let repo = built.verify().unwrap();
    let team = repo.delegation("targets/releases/team").unwrap();
    let err = team.outcome.as_ref().unwrap_err().to_string();
    assert!(
        err.contains("path \"\" is outside its parent targets/releases's paths [\"release-\"]"),
        "{err}"
    );
    built
        .cli(&["v1"], &["--delegation", "releases/team"])
        .expect(
            1,
            &[
                "required delegation targets/releases/team cannot be used",
                "is outside its parent",
            ],
        );
    // notary: also ignores the widened child (v1 comes from targets).
    notary_agrees(&built, "v1", IMAGE);
}

#[test]
fn child_within_its_parents_paths_is_used() {
    let mut r = repo();
    r.delegate("targets", "targets/releases", &["release-"]);
    r.delegate(
        "targets/releases",
        "targets/releases/team",
        &["release-team-"],
    )
    .tag("targets/releases/team", "release-team-1", b"team")
    .tag("targets/releases/team", "release-other", EVIL);
    let built = r.build();
    let out = built.cli(&["release-team-1"], &["--delegation", "releases/team"]);
    accepted(&out, b"team");
}

#[test]
fn delegation_missing_from_the_snapshot_is_not_used() {
    let mut r = with_releases();
    r.unlist("targets/releases");
    let built = r.build();
    built.cli(&["v2"], &["--delegation", "releases"]).expect(
        1,
        &["required delegation targets/releases cannot be used: not listed in snapshot.json"],
    );
    // notary: also refuses to use it (v2 has no valid trust data).
    notary_refuses(&built, "v2", &[]);
}

#[test]
fn delegation_declared_twice_counts_once() {
    let mut r = with_releases();
    r.edit_signed("targets", |s| {
        let again = s["delegations"]["roles"][0].clone();
        s["delegations"]["roles"]
            .as_array_mut()
            .unwrap()
            .push(again);
    });
    let built = r.build();
    let repo = built.verify().unwrap();
    assert_eq!(
        repo.delegations
            .iter()
            .filter(|d| d.name == "targets/releases")
            .count(),
        1
    );
    assert!(repo.warnings.iter().any(|w| w
        .message
        .contains("targets declares targets/releases again")));
}

#[test]
fn delegation_signed_by_a_key_its_parent_does_not_list_is_not_used() {
    let mut r = with_releases();
    r.signers("targets/releases", vec![builder::Key::ed25519()]);
    r.build()
        .cli(&["v2"], &["--delegation", "releases"])
        .expect(
            1,
            &[
                "required delegation targets/releases cannot be used",
                "targets/releases: 0 of 1 required signatures valid",
            ],
        );
}

// ---- JSON: duplicate keys, canonical form, malformed values -----------------------------------

#[test]
fn duplicate_json_keys_are_refused_in_every_role_at_any_depth() {
    for (role, from, to) in [
        ("root", "\"signed\":{", "\"signed\":{\"version\":2,"),
        ("timestamp", "\"meta\":{", "\"meta\":{\"snapshot\":{},"),
        (
            "snapshot",
            "{\"signatures\":",
            "{\"signed\":{},\"signatures\":",
        ),
        (
            "targets",
            "\"targets\":{",
            "\"targets\":{\"v1\":{\"length\":1,\"hashes\":{}},",
        ),
    ] {
        let mut r = repo();
        let (f, t) = (from.to_owned(), to.to_owned());
        r.edit_bytes(role, move |b| {
            let s = String::from_utf8(b.clone()).unwrap();
            assert!(s.contains(&f), "{s}");
            *b = s.replacen(&f, &t, 1).into_bytes();
        });
        let built = r.refuses_v1(&[&format!("{role}.json: invalid JSON: duplicate object key")]);
        if role == "targets" && notary_available() {
            // notary: ACCEPTS duplicate keys (Go keeps the last one: here the signed entry, so it
            // answers the real digest; a parser keeping the first would see the injected one).
            assert_eq!(
                notary_opinion(&built, "v1").map(|(d, _)| d),
                Ok(sha256_hex(IMAGE))
            );
        }
    }
}

#[test]
fn duplicate_json_keys_in_a_delegation_disable_it() {
    let mut r = with_releases();
    r.edit_bytes("targets/releases", |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s
            .replacen(
                "\"targets\":{",
                "\"targets\":{\"v2\":{\"length\":1,\"hashes\":{}},",
                1,
            )
            .into_bytes();
    });
    r.build()
        .cli(&["v2"], &["--delegation", "releases"])
        .expect(
            1,
            &["targets/releases.json: invalid JSON: duplicate object key \"v2\""],
        );
}

fn reencode(v: &Value, pretty: bool) -> Vec<u8> {
    if pretty {
        serde_json::to_vec_pretty(v).unwrap()
    } else {
        serde_json::to_vec(v).unwrap()
    }
}

fn non_canonical(numbers: bool) -> builder::Built {
    let mut r = repo();
    r.tag("targets", "a<b>&c\u{2028}", b"odd name");
    for role in common::TOP_ROLES {
        r.edit_bytes(role, move |b| {
            let v: Value = serde_json::from_slice(b).unwrap();
            let s = String::from_utf8(reencode(&v, true)).unwrap();
            let mut s = s
                .replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace("\"_type\"", "\"\\u005ftype\"");
            if numbers {
                s = s
                    .replacen("\"version\": 1", "\"version\": 1.0", 1)
                    .replacen("\"threshold\": 1", "\"threshold\": 1e0", 1);
            }
            *b = s.into_bytes();
        });
    }
    r.build()
}

#[test]
fn non_canonical_wire_forms_are_accepted_because_signatures_cover_the_canonical_form() {
    // Whitespace, escaped `<`/`>`/`&`/U+2028 as the server writes them, escaped ASCII: the bytes
    // differ from the canonical form, the signatures (over the canonical form) still verify, and
    // the parents' hashes are over the bytes as served.
    let built = non_canonical(false);
    let root = String::from_utf8(built.get("root").to_vec()).unwrap();
    assert!(
        root.contains("\\u005ftype") && root.contains("\n  "),
        "{root}"
    );
    accepted(&built.cli(&["v1"], &[]), IMAGE);
    let repo = built.verify().unwrap();
    let sel = trustpin::tuf::select::select(
        &repo,
        trustpin::tuf::select::Query::Tag("a<b>&c\u{2028}"),
        &[],
    )
    .unwrap();
    assert_eq!(sel.digest.hex(), sha256_hex(b"odd name"));
    // notary: also accepts (it verifies over its own canonical re-encoding).
    notary_agrees(&built, "v1", IMAGE);
}

#[test]
fn whole_numbers_written_as_1_0_or_1e0_are_read_as_integers() {
    // `1.0` and `1e0` sign as `1` (Go's canonical encoder prints whole float64s as integers), so
    // the signatures verify and trustpin accepts.
    let built = non_canonical(true);
    let root = String::from_utf8(built.get("root").to_vec()).unwrap();
    assert!(root.contains("1.0") && root.contains("1e0"), "{root}");
    accepted(&built.cli(&["v1"], &[]), IMAGE);
    // notary: REFUSES ("json: cannot unmarshal number 1e0 into Go value of type int"): its
    // typed structs want integer literals. A difference in leniency, not in what is trusted:
    // both read the same signed value.
    notary_refuses(&built, "v1", &["cannot unmarshal number"]);
}

#[test]
fn fractions_exponents_and_non_finite_numbers_are_refused() {
    for (lit, words) in [
        ("1.5", "number 1.5 is not a whole number"),
        ("1e-3", "not a whole number"),
        ("1e400", "out of range"),
        ("NaN", "invalid JSON"),
    ] {
        with_version_written_as("timestamp", lit)
            .refuses_v1(&["timestamp.json: invalid JSON", words]);
    }
}

#[test]
fn changed_content_under_an_unchanged_signature_is_refused() {
    // The canonical form is what is signed: a change that survives canonicalisation (a different
    // string, not different whitespace) breaks the signature.
    let mut r = repo();
    r.edit_envelope("targets", |env, _| {
        env["signed"]["targets"]["v1"] = builder::target_meta(EVIL);
    });
    r.refuses_v1(&[
        "targets: 0 of 1 required signatures valid",
        "does not verify with key",
    ]);
}

#[test]
fn malformed_but_valid_json_is_refused_and_never_panics() {
    // Every field of every file (envelope included), replaced in turn by null, a boolean, an
    // integer, a string, an array and an object, re-signed and re-hashed so that only the shape
    // is wrong: the chain refuses or accepts, and never panics. Several hundred variants, in
    // process.
    let mut base = with_releases();
    let built = base.build();
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!("x"),
        json!([]),
        json!({}),
    ];
    let mut count = 0;
    let mut refused = 0;
    for role in common::ROLES {
        let mut all = Vec::new();
        json_paths(&built.json(role), Vec::new(), &mut all);
        for path in all {
            for rep in &replacements {
                let mut variant = built.clone();
                let mut v = built.json(role);
                *at_path(&mut v, &path) = rep.clone();
                variant
                    .files
                    .insert(role.into(), serde_json::to_vec(&v).unwrap());
                count += 1;
                let result = std::panic::catch_unwind(|| {
                    variant
                        .verify_at(Level::Permissive, time::OffsetDateTime::now_utc())
                        .map(|repo| {
                            let _ = trustpin::tuf::select::select(
                                &repo,
                                trustpin::tuf::select::Query::Tag("v2"),
                                &["releases".into()],
                            );
                        })
                });
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        refused += 1;
                        let e = e.to_string();
                        // The message names a file or a role.
                        assert!(
                            ["root", "timestamp", "snapshot", "targets"]
                                .iter()
                                .any(|r| e.contains(r)),
                            "{role} {path:?} = {rep}: {e}"
                        );
                    }
                    Err(_) => panic!("panic on {role} {path:?} = {rep}"),
                }
            }
        }
    }
    assert!(count > 300, "{count} variants");
    assert!(refused > count / 2, "{refused} of {count} refused");
}

#[test]
fn not_json_at_all_is_refused_naming_the_file() {
    for (role, body) in [
        ("timestamp", &b""[..]),
        ("root", b"\xff\xfe"),
        ("snapshot", b"{\"signed\":{}"),
        ("targets", b"<html>502 Bad Gateway</html>"),
    ] {
        let mut built = repo().build();
        built.files.insert(role.into(), body.to_vec());
        let out = built.cli(&["v1"], &[]);
        assert_eq!(out.code, 1, "{role}: {}", out.describe());
        assert!(
            out.stderr.contains(&format!("{role}.json"))
                || out.stderr.contains(&format!("{role}:")),
            "{role}: {}",
            out.describe()
        );
    }
}

// ---- hostile repository names --------------------------------------------------------------

#[test]
fn repository_names_with_dot_dot_percent_2f_or_query_are_input_errors() {
    let built = repo().build();
    let disk = built.on_disk();
    for name in [
        "example.com/hostile/../chain:v1",
        "example.com/hostile/..:v1",
        "example.com/hostile%2F..%2Fchain:v1",
        "example.com/hostile/chain?x=1",
        "example.com/hostile/chain#frag",
        "../../etc/passwd",
        "example.com/hostile/chain:v1/../../x",
    ] {
        let out = builder::trustpin(&[
            "resolve",
            name,
            "--metadata-dir",
            &disk.path().display().to_string(),
            "--root-key",
            &disk.root_key.display().to_string(),
        ]);
        assert_eq!(out.code, 2, "{name}: {}", out.describe());
        assert!(
            out.stderr.contains("invalid") || out.stderr.contains("reference"),
            "{name}: {}",
            out.describe()
        );
        assert!(out.stdout.trim().is_empty(), "{name}");
    }
    // The same names over HTTP never reach the server.
    let srv = built.served();
    let key = disk.root_key.display().to_string();
    for name in [
        "example.com/a/../b:v1",
        "example.com/a%2Fb:v1",
        "example.com/a?b=c",
    ] {
        let out = builder::trustpin(&["resolve", name, "--server", &srv.url(), "--root-key", &key]);
        assert_eq!(out.code, 2, "{name}: {}", out.describe());
    }
    assert_eq!(srv.total_requests(), 0, "{:?}", srv.log());
}
