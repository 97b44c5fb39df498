//! Archives: every file needed to verify a repository later, in the offline layout
//! (`DIR/<gun>/_trust/tuf/<role>.json`, every root version as `<n>.root.json`), plus a manifest
//! saying what was archived, from where, when, as verified at which time, and each file's digest.
//! `trustpin resolve --metadata-dir DIR --at TIME` on it gives the answer the server gave.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use std::time::{Duration, Instant};

use crate::fetch::{check_role, Source, SourceError, Wave};
use crate::reference::Gun;
use crate::resolve::{Fetched, Limits, MAX_ROOT_ROTATIONS};
use crate::tuf::role::RoleName;

/// Name of the manifest, beside the `tuf` folder.
pub const MANIFEST: &str = "trustpin-archive.json";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("archive: refusing role name {0:?}")]
    BadRole(String),
}

/// Fetch the root versions 1..current that `fetched` does not hold yet (at most
/// [`MAX_ROOT_ROTATIONS`]), all within `deadline` from now; a version the server does not have
/// is skipped.
pub fn missing_root_versions(
    source: &dyn Source,
    gun: &Gun,
    fetched: &Fetched,
    deadline: Duration,
) -> Result<BTreeMap<String, Vec<u8>>, SourceError> {
    let until = Instant::now() + deadline;
    let current = fetched.repo.trusted.root.common.version;
    let mut out = BTreeMap::new();
    let lowest = (current - MAX_ROOT_ROTATIONS).max(1);
    let wave = Wave {
        parallel: 1,
        until: Some(until),
    };
    for v in lowest..current {
        let role = RoleName::versioned_root(v);
        if fetched.files.contains_key(role.as_str()) {
            continue;
        }
        if Instant::now() >= until {
            return Err(SourceError::Timeout {
                location: source.location(gun, &role),
                after: deadline,
            });
        }
        let got = source.fetch_many(gun, &[(role.clone(), Limits::default().root)], wave);
        match got.into_iter().next() {
            Some(Ok(b)) => {
                out.insert(role.to_string(), b);
            }
            Some(Err(e)) if e.is_not_found() => {}
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    // The current root under its versioned name too, so rotation walks work offline.
    if let Some(root) = fetched.files.get("root") {
        out.insert(format!("{current}.root"), root.clone());
    }
    Ok(out)
}

/// Write the files and the manifest below `out`; returns the manifest's path.
pub fn write(
    out: &Path,
    gun: &Gun,
    from: &str,
    fetched: &Fetched,
    extra: &BTreeMap<String, Vec<u8>>,
    verified_at: OffsetDateTime,
) -> Result<PathBuf, ArchiveError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ArchiveError::Io { path, source }
    };
    let base = out.join(gun.as_str()).join("_trust");
    let tuf = base.join("tuf");
    let mut entries = Vec::new();
    for (role, bytes) in fetched.files.iter().chain(extra.iter()) {
        check_role(role).map_err(|_| ArchiveError::BadRole(role.clone()))?;
        let path = tuf.join(format!("{role}.json"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
        let sha = ring::digest::digest(&ring::digest::SHA256, bytes);
        entries.push(serde_json::json!({
            "role": role,
            "path": format!("tuf/{role}.json"),
            "length": bytes.len(),
            "sha256": hex::encode(sha.as_ref()),
        }));
    }
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let t = &fetched.repo.trusted;
    let manifest = serde_json::json!({
        "format": "trustpin-archive/1",
        "gun": gun,
        "from": from,
        "archived_at": fmt(OffsetDateTime::now_utc()),
        "verified_at": fmt(verified_at),
        "root_version": t.root.common.version,
        "timestamp_version": t.timestamp.common.version,
        "verify_before": fmt(t.timestamp.common.expires),
        "how_to_verify": format!(
            "trustpin resolve --metadata-dir <this archive's top folder> --at {} --root-key <your pinned key> {gun}:<tag>",
            fmt(verified_at)
        ),
        "files": entries,
    });
    let path = base.join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}
