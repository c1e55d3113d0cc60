//! Companion files an image names: qcow2 backing files and external data files, VMDK extent
//! files and parents, differencing VHD parents.
//!
//! An image is untrusted, and the names in it are whatever its author wrote: `/etc/shadow`,
//! `../../root/.ssh/id_ed25519`, a device node. Following them blindly lets an image make the
//! tool read any host file into the guest's view (qemu's well-known backing-file probing
//! problem). So: nothing is opened unless the user passed `--allow-backing`, and then only a
//! regular file whose real path (symlinks and `..` resolved) lies inside the top image's own
//! directory; chains are bounded in depth and may not loop.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{ImageError, ImageInfo, ImageOptions};
use crate::volume::source::{BlockSource, RawFile};

/// Longest chain of images (top image included) followed.
pub const MAX_CHAIN: u32 = 16;

/// Decides and performs the opening of companion files, for one image in a chain.
#[derive(Clone, Debug)]
pub struct Opener {
    allow: bool,
    /// Real path of the top image's directory: companions must resolve inside it. `None` when
    /// the image is not a file (in memory): nothing can be opened.
    top_dir: Option<PathBuf>,
    /// Directory of the image being opened: relative names resolve against it (as qemu does).
    here: Option<PathBuf>,
    /// Real paths of the images opened so far, top first.
    chain: Vec<PathBuf>,
}

impl Opener {
    /// For the image at `path` (the target the user named).
    pub fn new(path: &Path, options: &ImageOptions) -> Opener {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = real.parent().map(Path::to_path_buf);
        Opener {
            allow: options.allow_backing,
            top_dir: dir.clone(),
            here: dir,
            chain: vec![real],
        }
    }

    /// For bytes that are not a file (tests, fuzzing): every companion is refused.
    pub fn memory() -> Opener {
        Opener {
            allow: false,
            top_dir: None,
            here: None,
            chain: Vec::new(),
        }
    }

    /// The image being opened, for messages.
    pub fn path(&self) -> PathBuf {
        self.chain
            .last()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("<image in memory>"))
    }

    /// The directory companions must be in, for messages.
    pub fn dir(&self) -> PathBuf {
        self.top_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("the image's directory"))
    }

    /// Resolves and checks `name`; returns the real path allowed to be opened.
    fn resolve(&self, kind: &'static str, name: &str) -> Result<PathBuf, ImageError> {
        let (Some(top), Some(here), true) = (&self.top_dir, &self.here, self.allow) else {
            return Err(ImageError::Refused {
                kind,
                name: name.to_string(),
                dir: self.dir(),
            });
        };
        if name.is_empty() || name.contains('\0') {
            return Err(ImageError::Companion {
                kind,
                name: name.to_string(),
                path: PathBuf::from(name),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
            });
        }
        let p = Path::new(name);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            here.join(p)
        };
        let real = std::fs::canonicalize(&joined).map_err(|source| ImageError::Companion {
            kind,
            name: name.to_string(),
            path: joined.clone(),
            source,
        })?;
        if !real.starts_with(top) || real == *top {
            return Err(ImageError::Outside {
                kind,
                name: name.to_string(),
                resolved: real,
                dir: top.clone(),
            });
        }
        if self.chain.contains(&real) {
            return Err(ImageError::Loop(real));
        }
        if self.chain.len() as u32 >= MAX_CHAIN {
            return Err(ImageError::TooDeep(MAX_CHAIN));
        }
        Ok(real)
    }

    /// Opens the companion file `name` (as named inside the image) read-only, as raw bytes;
    /// returns it and the opener for images it names in turn.
    pub fn open_file(
        &self,
        kind: &'static str,
        name: &str,
    ) -> Result<(Arc<dyn BlockSource>, Opener), ImageError> {
        let real = self.resolve(kind, name)?;
        let err = |source: std::io::Error| ImageError::Companion {
            kind,
            name: name.to_string(),
            path: real.clone(),
            source,
        };
        // O_NOFOLLOW: the path was just resolved; a symlink swapped in since is not followed.
        // O_NONBLOCK: a FIFO must not hang the open.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&real)
            .map_err(err)?;
        let md = file.metadata().map_err(err)?;
        if !md.is_file() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let mut next = self.clone();
        next.here = real.parent().map(Path::to_path_buf);
        next.chain.push(real.clone());
        let src: Arc<dyn BlockSource> = Arc::new(RawFile::new(file, &real, md.len()));
        Ok((src, next))
    }

    /// Opens a backing or parent image `name`: its format is `format` when the image records
    /// one (`raw` is never probed, so a raw backing file's contents cannot pose as a header),
    /// else detected.
    pub fn open_image(
        &self,
        kind: &'static str,
        name: &str,
        format: Option<&str>,
    ) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
        let (file, next) = self.open_file(kind, name)?;
        match format {
            Some("raw") => {
                let info = ImageInfo::raw(file.size());
                Ok((file, info))
            }
            Some(f @ ("qcow2" | "vmdk" | "vpc" | "vhdx")) => {
                let detected = super::detect(file.as_ref())?;
                let ok = matches!(
                    (f, detected),
                    ("qcow2", super::Format::Qcow2)
                        | (
                            "vmdk",
                            super::Format::VmdkSparse | super::Format::VmdkDescriptor
                        )
                        | ("vpc", super::Format::Vhd)
                        | ("vhdx", super::Format::Vhdx)
                );
                if !ok {
                    return Err(ImageError::corrupt(
                        "image",
                        format!("the {kind} \"{name}\" is recorded as {f} but is {detected:?}"),
                    ));
                }
                super::open_as(file, detected, &next)
            }
            Some(other) => Err(ImageError::unsupported(
                "image",
                format!("a {kind} \"{name}\" of format \"{other}\""),
            )),
            None => super::open(file, &next),
        }
    }
}

/// Opens `path` (already opened as `file`) and keeps nothing else open: a helper for tests.
pub fn open_path(
    path: &Path,
    options: &ImageOptions,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let f = File::open(path).map_err(|source| ImageError::Companion {
        kind: "image",
        name: path.display().to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let src: Arc<dyn BlockSource> = Arc::new(RawFile::new(f, path, len));
    super::open(src, &Opener::new(path, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_by_default_and_outside_the_directory() {
        let t = tempfile::tempdir().unwrap();
        let img = t.path().join("top.qcow2");
        std::fs::write(&img, b"x").unwrap();
        std::fs::write(t.path().join("base.raw"), b"base").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), t.path().join("link")).unwrap();

        let deny = Opener::new(&img, &ImageOptions::default());
        let e = deny.open_file("backing file", "base.raw").unwrap_err();
        assert!(matches!(e, ImageError::Refused { .. }), "{e}");
        assert!(e.to_string().contains("--allow-backing"), "{e}");

        let allow = Opener::new(
            &img,
            &ImageOptions {
                allow_backing: true,
            },
        );
        let (f, _) = allow.open_file("backing file", "base.raw").unwrap();
        assert_eq!(f.size(), 4);
        for bad in [
            "link".to_string(),
            "../x".to_string(),
            outside.path().join("secret").display().to_string(),
            "/etc/passwd".to_string(),
            ".".to_string(),
        ] {
            let e = allow.open_file("backing file", &bad).unwrap_err();
            assert!(
                matches!(e, ImageError::Outside { .. } | ImageError::Companion { .. }),
                "{bad}: {e}"
            );
        }
        // The image itself: a loop.
        let e = allow.open_file("backing file", "top.qcow2").unwrap_err();
        assert!(matches!(e, ImageError::Loop(_)), "{e}");
        // In memory: always refused.
        assert!(matches!(
            Opener::memory().open_file("backing file", "base.raw"),
            Err(ImageError::Refused { .. })
        ));
    }
}
