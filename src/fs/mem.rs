//! An in-memory guest tree: the backend of unit tests and fuzz targets, so that the resolver
//! and the audits can be exercised without building images.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Backend, DirEntry, FileType, FsError, FsInfo, Metadata, RootFs, Time};

#[derive(Clone, Debug)]
enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
    Other(FileType),
}

#[derive(Clone, Debug, Default)]
pub struct MemFs {
    nodes: BTreeMap<PathBuf, (Node, u32, u32, u32)>,
}

impl MemFs {
    /// An empty tree with a root directory (0755 root:root).
    pub fn new() -> MemFs {
        let mut m = MemFs::default();
        m.nodes.insert(PathBuf::from("/"), (Node::Dir, 0o755, 0, 0));
        m
    }

    fn ensure_parents(&mut self, path: &Path) {
        let mut cur = PathBuf::from("/");
        if let Some(parent) = path.parent() {
            for c in parent.components().skip(1) {
                cur.push(c);
                self.nodes
                    .entry(cur.clone())
                    .or_insert((Node::Dir, 0o755, 0, 0));
            }
        }
    }

    pub fn dir(&mut self, path: &str, perm: u32, uid: u32, gid: u32) -> &mut Self {
        let p = PathBuf::from(path);
        self.ensure_parents(&p);
        self.nodes.insert(p, (Node::Dir, perm, uid, gid));
        self
    }

    pub fn file(&mut self, path: &str, data: &[u8], perm: u32, uid: u32, gid: u32) -> &mut Self {
        let p = PathBuf::from(path);
        self.ensure_parents(&p);
        self.nodes
            .insert(p, (Node::File(data.to_vec()), perm, uid, gid));
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let p = PathBuf::from(path);
        self.ensure_parents(&p);
        self.nodes
            .insert(p, (Node::Symlink(PathBuf::from(target)), 0o777, 0, 0));
        self
    }

    pub fn special(&mut self, path: &str, ft: FileType) -> &mut Self {
        let p = PathBuf::from(path);
        self.ensure_parents(&p);
        self.nodes.insert(p, (Node::Other(ft), 0o644, 0, 0));
        self
    }

    pub fn into_rootfs(self) -> RootFs {
        RootFs::new(
            Box::new(self),
            FsInfo {
                fs_type: "memory".into(),
                uuid: None,
                label: None,
            },
        )
    }

    fn get(&self, path: &Path) -> Result<&(Node, u32, u32, u32), FsError> {
        self.nodes
            .get(path)
            .ok_or_else(|| FsError::NotFound(path.to_path_buf()))
    }
}

impl Backend for MemFs {
    fn lstat(&self, path: &Path) -> Result<Metadata, FsError> {
        let (node, perm, uid, gid) = self.get(path)?;
        let (file_type, size) = match node {
            Node::Dir => (FileType::Directory, 4096),
            Node::File(d) => (FileType::Regular, d.len() as u64),
            Node::Symlink(t) => (FileType::Symlink, t.as_os_str().len() as u64),
            Node::Other(ft) => (*ft, 0),
        };
        Ok(Metadata {
            file_type,
            perm: *perm,
            uid: *uid,
            gid: *gid,
            size,
            mtime: Time { secs: 0, nanos: 0 },
            atime: Time { secs: 0, nanos: 0 },
            ctime: None,
            inode: None,
            nlink: None,
        })
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, FsError> {
        match &self.get(path)?.0 {
            Node::Symlink(t) => Ok(t.clone()),
            _ => Err(FsError::NotASymlink(path.to_path_buf())),
        }
    }

    fn read_dir(&self, path: &Path) -> Result<Vec<DirEntry>, FsError> {
        let mut out = Vec::new();
        for (p, (node, ..)) in self.nodes.range(path.to_path_buf()..) {
            if p.parent() == Some(path) {
                let file_type = match node {
                    Node::Dir => FileType::Directory,
                    Node::File(_) => FileType::Regular,
                    Node::Symlink(_) => FileType::Symlink,
                    Node::Other(ft) => *ft,
                };
                let name = p.file_name().map(OsString::from).unwrap_or_default();
                out.push(DirEntry { name, file_type });
            } else if !p.starts_with(path) {
                break;
            }
        }
        Ok(out)
    }

    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>, FsError> {
        Ok(Box::new(self.open_seekable(path)?))
    }

    fn open_seekable(&self, path: &Path) -> Result<Box<dyn crate::fs::ReadSeek + '_>, FsError> {
        match &self.get(path)?.0 {
            Node::File(d) => Ok(Box::new(std::io::Cursor::new(&d[..]))),
            Node::Dir => Err(FsError::IsADirectory(path.to_path_buf())),
            Node::Symlink(_) => Err(FsError::NotRegular(path.to_path_buf(), FileType::Symlink)),
            Node::Other(ft) => Err(FsError::NotRegular(path.to_path_buf(), *ft)),
        }
    }
}
