//! The trust cache: verified files and the highest version seen per role, per repository. It
//! gives rollback protection (versions never go down across runs) and the warm path (an unchanged
//! repository costs one request). Files are written atomically (write, fsync, rename), and every
//! cached file is re-checked against the hashes its parent declares before use, so a damaged file
//! is simply fetched again.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fetch::check_role;

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cache: refusing role name {0:?}")]
    BadRole(String),
}

/// What the cache holds for one repository.
#[derive(Debug, Clone, Default)]
pub struct Cached {
    /// Role file name (`root`, `targets/releases`, `2.root`) → bytes as last verified.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Role → highest version verified so far.
    pub versions: BTreeMap<String, i64>,
    /// Problems met while loading (a damaged state file): shown as warnings.
    pub problems: Vec<String>,
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    /// Whether the versions seen (rollback state) are read and written, or only files.
    rollback: bool,
}

const STATE: &str = "versions.json";

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache {
            dir,
            rollback: true,
        }
    }

    /// The same directory for verifying at another time (an archive): verified files are read
    /// and written, the versions seen are neither read nor written, so an archive is not taken
    /// for a rollback and does not make today's data look like one.
    pub fn without_rollback(self) -> Cache {
        Cache {
            rollback: false,
            ..self
        }
    }

    /// The file holding the highest versions seen for the repository at `key`.
    pub fn state_file(&self, key: &str) -> PathBuf {
        self.repo_dir(key).join(STATE)
    }

    /// `$XDG_CACHE_HOME/trustpin`, else `$HOME/.cache/trustpin`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CACHE_HOME") {
            Some(x) if !x.is_empty() => PathBuf::from(x),
            _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
        };
        Some(base.join("trustpin"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One path component per key (the location of a repository's root.json, so each server's
    /// copy of a repository has its own state): bytes outside `[a-z0-9._-]` percent-encoded, and a
    /// leading dot too, so no name can climb out (`..`) or smuggle a separator; long names are
    /// cut and suffixed with a hash of the whole key to stay under file-name limits.
    pub fn repo_dir(&self, gun: &str) -> PathBuf {
        let mut name = String::with_capacity(gun.len() + 8);
        for (i, b) in gun.bytes().enumerate() {
            let plain = b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'_'
                || b == b'-'
                || (b == b'.' && i > 0);
            if plain {
                name.push(b as char);
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        if name.is_empty() {
            name.push_str("%00");
        }
        if name.len() > 160 {
            let hash = ring::digest::digest(&ring::digest::SHA256, gun.as_bytes());
            name.truncate(100);
            name.push('~');
            name.push_str(&hex::encode(hash.as_ref()));
        }
        self.dir.join(name)
    }

    fn file(&self, gun: &str, role: &str) -> Result<PathBuf, CacheError> {
        check_role(role).map_err(|_| CacheError::BadRole(role.to_owned()))?;
        Ok(self.repo_dir(gun).join(format!("{role}.json")))
    }

    /// Load what is cached for `gun`. Missing or unreadable files are simply absent.
    pub fn load(&self, gun: &str) -> Cached {
        let dir = self.repo_dir(gun);
        let mut out = Cached::default();
        collect_files(&dir, &dir, &mut out.files);
        if !self.rollback {
            return out;
        }
        match fs::read(dir.join(STATE)) {
            Ok(bytes) => match serde_json::from_slice::<BTreeMap<String, i64>>(&bytes) {
                Ok(v) => out.versions = v,
                Err(e) => out.problems.push(format!(
                    "cache state {} is damaged ({e}); rollback protection restarts from this run",
                    dir.join(STATE).display()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out
                .problems
                .push(format!("cache state {}: {e}", dir.join(STATE).display())),
        }
        out
    }

    /// Store verified files and the versions seen (each the highest of old and new).
    pub fn store(
        &self,
        gun: &str,
        files: &BTreeMap<String, Vec<u8>>,
        versions: &BTreeMap<String, i64>,
    ) -> Result<(), CacheError> {
        for (role, bytes) in files {
            write_atomic(&self.file(gun, role)?, bytes)?;
        }
        if !self.rollback {
            return Ok(());
        }
        let state = serde_json::to_vec(versions).unwrap_or_default();
        write_atomic(&self.state_file(gun), &state)
    }
}

/// Notation's warm path: one file per verified artifact, `_notation/<repository>/<hex>.json`
/// (beside, never inside, the Notary v1 repository folders, whose files are all role files).
const NOTATION: &str = "_notation";

/// Largest Notation cache file read (an envelope is at most 4 MiB, base64 in JSON).
pub const MAX_NOTATION_ENTRY: u64 = 8 * 1024 * 1024;

impl Cache {
    fn notation_file(&self, repository: &str, digest_hex: &str) -> Option<PathBuf> {
        let hex_only = digest_hex.len() == 64 && digest_hex.bytes().all(|b| b.is_ascii_hexdigit());
        let name = self.repo_dir(repository).file_name()?.to_owned();
        hex_only.then(|| {
            self.dir
                .join(NOTATION)
                .join(name)
                .join(format!("{digest_hex}.json"))
        })
    }

    /// The Notation entry of `repository`'s artifact `digest_hex`, if one was stored (and is
    /// not larger than [`MAX_NOTATION_ENTRY`]).
    pub fn load_notation(&self, repository: &str, digest_hex: &str) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let path = self.notation_file(repository, digest_hex)?;
        let mut bytes = Vec::new();
        fs::File::open(path)
            .ok()?
            .take(MAX_NOTATION_ENTRY + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        (bytes.len() as u64 <= MAX_NOTATION_ENTRY).then_some(bytes)
    }

    /// Store the Notation entry of `repository`'s artifact `digest_hex`, atomically.
    pub fn store_notation(
        &self,
        repository: &str,
        digest_hex: &str,
        bytes: &[u8],
    ) -> Result<(), CacheError> {
        let path = self
            .notation_file(repository, digest_hex)
            .ok_or_else(|| CacheError::BadRole(digest_hex.to_owned()))?;
        write_atomic(&path, bytes)
    }
}

/// Read every `*.json` below `dir` (but the state file) as role files.
fn collect_files(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if path
                .strip_prefix(base)
                .is_ok_and(|p| p.components().count() < 64)
            {
                collect_files(base, &path, out);
            }
            continue;
        }
        if !ft.is_file() || path.file_name().is_some_and(|n| n == STATE) {
            continue;
        }
        let Some(rel) = path.strip_prefix(base).ok().and_then(|p| p.to_str()) else {
            continue;
        };
        let Some(role) = rel.strip_suffix(".json") else {
            continue;
        };
        if check_role(role).is_ok() {
            if let Ok(bytes) = fs::read(&path) {
                out.insert(role.to_owned(), bytes);
            }
        }
    }
}

/// Write then rename, so a crash never leaves a half-written file under the real name.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let io = |source| CacheError::Io {
        path: path.display().to_string(),
        source,
    };
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io)?;
    // Unique per process and write, so concurrent writers never share a temporary file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = parent.join(format!(
        ".{}.tmp.{}.{n}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_cannot_climb_out_or_smuggle_separators() {
        let c = Cache::new(PathBuf::from("/c"));
        for gun in [
            "../../etc",
            "a/../../b",
            "..",
            ".",
            "docker.io/x%2F..",
            "a\\b",
            "a\0b",
        ] {
            let p = c.repo_dir(gun);
            assert_eq!(p.parent(), Some(Path::new("/c")), "{gun} → {}", p.display());
            let name = p.file_name().unwrap().to_str().unwrap();
            assert!(
                !name.contains('/') && !name.contains('\\') && !name.starts_with('.'),
                "{gun} → {name}"
            );
        }
        assert_ne!(
            c.repo_dir("a/b"),
            c.repo_dir("a%2Fb"),
            "distinct names stay distinct"
        );
        assert_eq!(
            c.repo_dir("docker.io/library/alpine").file_name().unwrap(),
            "docker.io%2Flibrary%2Falpine"
        );
        let long = "x/".repeat(300);
        let name = c.repo_dir(&long).file_name().unwrap().len();
        assert!(name <= 170, "{name}");
        assert_ne!(c.repo_dir(&long), c.repo_dir(&format!("{long}y")));
    }

    #[test]
    fn store_then_load_round_trips_and_damage_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let c = Cache::new(tmp.path().to_path_buf());
        let mut files = BTreeMap::new();
        files.insert("root".to_owned(), b"r".to_vec());
        files.insert("targets/releases".to_owned(), b"t".to_vec());
        files.insert("2.root".to_owned(), b"r2".to_vec());
        let versions = BTreeMap::from([("root".to_owned(), 2), ("timestamp".to_owned(), 7)]);
        c.store("example.com/a/b", &files, &versions).unwrap();
        let got = c.load("example.com/a/b");
        assert_eq!(got.files, files);
        assert_eq!(got.versions, versions);
        assert!(got.problems.is_empty());
        // A truncated state file is reported, not trusted and not fatal.
        let state = c.repo_dir("example.com/a/b").join(STATE);
        let full = fs::read(&state).unwrap();
        fs::write(&state, &full[..full.len() / 2]).unwrap();
        let got = c.load("example.com/a/b");
        assert!(got.versions.is_empty());
        assert!(got.problems[0].contains("damaged"), "{:?}", got.problems);
        // Bad role names are refused rather than written anywhere.
        let bad = BTreeMap::from([("../x".to_owned(), vec![])]);
        assert!(c.store("g", &bad, &BTreeMap::new()).is_err());
    }
}
