//! Trust data from a folder laid out like the server's URLs below `/v2/`:
//! `DIR/<gun>/_trust/tuf/<role>.json`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{trace, Fetch, Source, SourceError, Wave};
use crate::reference::Gun;
use crate::tuf::role::RoleName;

/// Reads `DIR/<gun>/_trust/tuf/<role>.json`.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    /// A source reading below `dir`. The folder is not checked until the first fetch.
    pub fn new(dir: PathBuf) -> DirSource {
        DirSource { dir }
    }

    /// The folder this source reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, gun: &Gun, role: &RoleName) -> PathBuf {
        let mut path = self.dir.clone();
        // gun and role use '/' as separator; push each segment so the path is native everywhere.
        for segment in gun.split('/') {
            path.push(segment);
        }
        path.push("_trust");
        path.push("tuf");
        let mut segments = role.split('/').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_some() {
                path.push(segment);
            } else {
                path.push(format!("{segment}.json"));
            }
        }
        path
    }
}

impl Source for DirSource {
    /// Files are read in turn: local reads gain nothing from threads (nor need a deadline).
    fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], _wave: Wave) -> Vec<Fetch> {
        wanted
            .iter()
            .map(|(role, max)| self.fetch(gun, role, *max))
            .collect()
    }

    fn fetch(&self, gun: &Gun, role: &RoleName, max_len: u64) -> Fetch {
        let started = trace::start();
        let result = self.read(gun, role, max_len);
        if started.is_some() {
            let location = self.location(gun, role);
            trace::report_fetch(started, "read", &location, &result, |b| (None, b.len()));
        }
        result
    }

    fn location(&self, gun: &Gun, role: &RoleName) -> String {
        self.path(gun, role).display().to_string()
    }
}

impl DirSource {
    /// One file, at most `max_len` bytes, never a FIFO or device.
    fn read(&self, gun: &Gun, role: &RoleName, max_len: u64) -> Fetch {
        let path = self.path(gun, role);
        let location = path.display().to_string();
        let io_err = |source: io::Error| SourceError::Io {
            location: location.clone(),
            source,
        };

        // Look before opening: opening a FIFO or device for reading can block or never end.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(io_err(io::Error::other("not a regular file"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SourceError::NotFound { location });
            }
            Err(e) => return Err(io_err(e)),
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SourceError::NotFound { location });
            }
            Err(e) => return Err(io_err(e)),
        };
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(io_err(io::Error::other("not a regular file")));
        }
        if meta.len() > max_len {
            return Err(SourceError::TooLarge {
                location,
                limit: max_len,
            });
        }
        // The file may grow between the size check and the read: read at most max_len + 1.
        let mut body =
            Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(io_err)?;
        if body.len() as u64 > max_len {
            return Err(SourceError::TooLarge {
                location,
                limit: max_len,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::test_names::{g, r};

    #[test]
    fn layout_matches_the_server_urls() {
        let s = DirSource::new(PathBuf::from("/data"));
        assert_eq!(
            s.path(&g("docker.io/library/alpine"), &r("targets/releases")),
            Path::new("/data/docker.io/library/alpine/_trust/tuf/targets/releases.json")
        );
        assert_eq!(
            s.path(&g("localhost:5000/app"), &r("2.root")),
            Path::new("/data/localhost:5000/app/_trust/tuf/2.root.json")
        );
    }

    #[test]
    fn bounded_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("example.com/app/_trust/tuf");
        std::fs::create_dir_all(dir.join("targets")).unwrap();
        std::fs::write(dir.join("root.json"), b"0123456789").unwrap();
        std::fs::create_dir_all(dir.join("timestamp.json")).unwrap();
        let s = DirSource::new(tmp.path().to_owned());

        assert_eq!(
            s.fetch(&g("example.com/app"), &r("root"), 10).unwrap(),
            b"0123456789"
        );
        assert!(matches!(
            s.fetch(&g("example.com/app"), &r("root"), 9),
            Err(SourceError::TooLarge { limit: 9, .. })
        ));
        assert!(matches!(
            s.fetch(&g("example.com/app"), &r("root"), 0),
            Err(SourceError::TooLarge { limit: 0, .. })
        ));
        assert!(s
            .fetch(&g("example.com/app"), &r("snapshot"), 10)
            .unwrap_err()
            .is_not_found());
        assert!(s
            .fetch(&g("example.com/other"), &r("root"), 10)
            .unwrap_err()
            .is_not_found());
        assert!(matches!(
            s.fetch(&g("example.com/app"), &r("timestamp"), 10),
            Err(SourceError::Io { .. })
        ));
        // A name that could climb out of the folder cannot be made, so cannot be fetched.
        assert!(Gun::new("example.com/app/_trust/tuf/..").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_a_file_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("example.com/app/_trust/tuf");
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("root.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo is needed here");
        let s = DirSource::new(tmp.path().to_owned());
        let err = s.fetch(&g("example.com/app"), &r("root"), 10).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
