//! Root rotation, sans-IO: from the newest root a pinned key signs (the anchor) forward, one
//! version at a time, each step signed by the previous root's keys and its own. Kept apart from
//! the chain because it is the one place old, possibly expired roots are read.

use crate::tuf::chain::{
    not_pinned, parse_env, pinned_ids, pinned_signed, role_keys, verify_root, verify_root_unpinned,
    ChainError, Context,
};
use crate::tuf::level::{Level, Warning};
use crate::tuf::metadata::{Envelope, Root};
use crate::tuf::verify::{check_threshold, short, Verified};

/// The version a root.json claims, read without verifying anything (to know which versioned
/// roots to fetch for a rotation walk).
pub fn claimed_version(bytes: &[u8]) -> Option<i64> {
    let env = Envelope::parse(bytes).ok()?;
    match env.signed.get("version") {
        Some(crate::tuf::json::Value::Int(v)) => Some(*v),
        _ => None,
    }
}

/// Whether a versioned root is whole: it parses, claims `version`, and meets its own threshold
/// (a damaged cached copy is then fetched again).
pub fn root_is_whole(ctx: &Context, bytes: &[u8], version: i64) -> bool {
    let permissive = Context {
        level: Level::Audit,
        ..ctx.clone()
    };
    let mut ignored = Vec::new();
    verify_root_unpinned(&permissive, bytes, &mut ignored)
        .is_ok_and(|r| r.common.version == version)
}

/// Whether this (possibly old, possibly expired) root is well formed, signed to its own threshold,
/// issued to this repository, and signed by a pinned key: the anchor of a rotation walk.
///
/// Walking back costs at most one signature verification per pinned key per root: only a root
/// that a pinned key really signed gets the full check (once, for the anchor), so a hostile
/// chain of versioned roots with a thousand signatures each costs a thousand checks, not a million.
/// A spent signature budget is an error, never a quiet "not the anchor" (which would walk on).
pub fn is_pinned_anchor(ctx: &Context, bytes: &[u8]) -> Result<bool, ChainError> {
    if !pinned_key_signed(ctx, bytes)? {
        return Ok(false);
    }
    let mut ignored = Vec::new();
    let strict_names = Context {
        level: Level::Permissive,
        ..ctx.clone()
    };
    match verify_root_unpinned(&strict_names, bytes, &mut ignored) {
        Ok(root) => Ok(pinned_signed(ctx, &root)),
        Err(e) if e.budget().is_some() => Err(e),
        Err(_) => Ok(false),
    }
}

/// Whether a pinned key made a valid signature over this root: for each pinned key, the first
/// signature that names one of its IDs in the root role is checked, and no other.
fn pinned_key_signed(ctx: &Context, bytes: &[u8]) -> Result<bool, ChainError> {
    let Ok((root, sig)) = Root::parse(bytes) else {
        return Ok(false);
    };
    let Some(role) = root.roles.get("root") else {
        return Ok(false);
    };
    ctx.charge_signatures(ctx.pinned.len())?;
    Ok(ctx.pinned.iter().any(|p| {
        let ids: Vec<&str> = role
            .keyids
            .iter()
            .filter(|id| root.keys.get(*id).is_some_and(|k| p.matches(k)))
            .map(String::as_str)
            .collect();
        let Some(key) = ids.first().and_then(|id| root.keys.get(*id)) else {
            return false;
        };
        sig.signatures
            .iter()
            .find(|s| ids.contains(&s.keyid.as_str()) || s.keyid == key.canonical_id())
            .is_some_and(|s| key.verify(&s.method, &sig.canonical, &s.sig).is_ok())
    }))
}

/// Verify a rotated root: `history` holds the versioned roots from the newest one a pinned key
/// signs (the anchor) up to the one before `current`, oldest first. Every step must be exactly
/// one version up and signed by a threshold of the previous root's keys and of its own; earlier
/// roots may have expired. The current root is then verified in full, and a warning names the
/// rotation every time.
pub fn verify_rotated_root(
    ctx: &Context,
    history: &[Vec<u8>],
    current: &[u8],
    warnings: &mut Vec<Warning>,
) -> Result<Verified<Root>, ChainError> {
    let Some((anchor_bytes, rest)) = history.split_first() else {
        return verify_root(ctx, current, warnings);
    };
    // The anchor: everything but time, and the pinned key.
    let permissive = Context {
        level: Level::Permissive,
        ..ctx.clone()
    };
    let mut ignored = Vec::new();
    let anchor = verify_root_unpinned(&permissive, anchor_bytes, &mut ignored)?;
    if !pinned_signed(ctx, &anchor) {
        return Err(not_pinned(ctx, &anchor));
    }
    let mut prev = anchor;
    for bytes in rest {
        let next = verify_root_unpinned(&permissive, bytes, &mut ignored)?;
        rotation_step(ctx, &prev, &next, bytes)?;
        prev = next;
    }
    let root = verify_root_unpinned(ctx, current, warnings)?;
    rotation_step(ctx, &prev, &root, current)?;
    let new = root
        .roles
        .get("root")
        .map(|r| {
            r.keyids
                .iter()
                .filter_map(|id| root.keys.get(id))
                .map(|k| short(k.canonical_id()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if !pinned_signed(ctx, &root) {
        warnings.push(Warning::new(
            Some("root"),
            format!(
                "root key rotated from {} to {new} at version {}; pin the new key",
                pinned_ids(ctx),
                root.common.version
            ),
        ));
    }
    Ok(root)
}

/// One step of a rotation: exactly one version up, signed by the previous root's keys.
fn rotation_step(
    ctx: &Context,
    prev: &Verified<Root>,
    next: &Verified<Root>,
    next_bytes: &[u8],
) -> Result<(), ChainError> {
    let expected = prev.common.version + 1;
    if next.common.version != expected {
        return Err(ChainError::RotationVersion {
            version: expected,
            got: next.common.version,
        });
    }
    let env = parse_env("root", next_bytes)?;
    let role = &prev.roles["root"];
    ctx.charge_signatures(env.sig.signatures.len())?;
    check_threshold(
        &format!("root v{expected}"),
        &env.sig,
        &role_keys(role, &prev.keys),
        role.threshold,
    )
    .map_err(|source| ChainError::RotationUnsigned {
        version: expected,
        source,
    })?;
    Ok(())
}
