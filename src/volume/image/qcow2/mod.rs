//! qcow2 v2/v3, read in place: the active layer through the L1/L2 tables (standard or
//! extended L2 entries with subclusters), zlib and zstd compressed clusters, zero clusters,
//! a backing file or an external data file when allowed. Mirrors the lookup in qemu's
//! `block/qcow2-cluster.c: qcow2_get_host_offset`, written from the format specification.

pub mod header;
pub mod snapshot;

use std::path::PathBuf;
use std::sync::Arc;

use header::{Compression, INCOMPAT_CORRUPT, INCOMPAT_DIRTY};

use super::cache::Cache;
use super::compress;
use super::{ImageError, ImageInfo, Opener, read_error, read_meta};
use crate::volume::VolumeError;
use crate::volume::source::{BlockSource, check_range};

const F: &str = "qcow2";

/// Host cluster offset bits of L1 and standard L2 entries (bits 9-55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_COMPRESSED: u64 = 1 << 62;
const L2_ZERO: u64 = 1;

/// Memory for cached L2 tables and inflated clusters, per open image.
const L2_CACHE_BYTES: u64 = 32 * 1024 * 1024;
const CLUSTER_CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug)]
pub struct Qcow2 {
    file: Arc<dyn BlockSource>,
    /// Where data clusters live: the image itself, or its external data file.
    data: Arc<dyn BlockSource>,
    path: PathBuf,
    cluster_bits: u32,
    size: u64,
    l1: Vec<u64>,
    l2_bits: u32,
    extended_l2: bool,
    compression: Compression,
    backing: Option<Arc<dyn BlockSource>>,
    l2_cache: Cache<Vec<u64>>,
    clusters: Cache<Vec<u8>>,
}

/// Where one piece of a guest cluster comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Map {
    /// Read through to the backing file (or zeros without one).
    Unallocated,
    Zero,
    /// Host offset of the first byte of the piece, in the data file.
    Data(u64),
    /// A compressed cluster: host offset and the most bytes it may span.
    Compressed {
        offset: u64,
        len: u64,
    },
}

/// Opens the qcow2 image in `file`.
pub fn open(
    file: Arc<dyn BlockSource>,
    opener: &Opener,
) -> Result<(Arc<dyn BlockSource>, ImageInfo), ImageError> {
    let h = header::parse(file.as_ref())?;
    let mut info = ImageInfo {
        format: F,
        subformat: Some(format!("v{}", h.version)),
        virtual_size: h.size,
        backing_file: h.backing_file.clone(),
        ..ImageInfo::default()
    };
    if h.incompatible & INCOMPAT_DIRTY != 0 {
        info.notes.push(
            "marked dirty: qemu did not close it cleanly (only refcounts may be stale; data is read as the tables map it)"
                .into(),
        );
    }
    if h.incompatible & INCOMPAT_CORRUPT != 0 {
        info.notes.push(
            "marked corrupt by qemu: its metadata failed a consistency check (every table entry is still checked as it is read)"
                .into(),
        );
    }
    if h.compression == Compression::Zstd {
        info.notes.push("compressed clusters use zstd".into());
    }
    if h.extended_l2() {
        info.notes
            .push("extended L2 entries (subcluster allocation)".into());
    }
    match snapshot::parse(
        file.as_ref(),
        h.snapshots_offset,
        h.nb_snapshots,
        h.cluster_size(),
    ) {
        Ok(s) => info.snapshots = s,
        Err(e) => info
            .notes
            .push(format!("the snapshot table could not be read: {e}")),
    }

    let l1_bytes = read_meta(
        file.as_ref(),
        F,
        "L1 table",
        h.l1_table_offset,
        h.l1_size as usize * 8,
    )?;
    let l1: Vec<u64> = l1_bytes
        .chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_be_bytes(a)
        })
        .collect();

    let data = match &h.data_file {
        Some(name) => {
            info.notes.push(format!("external data file \"{name}\""));
            opener.open_file("external data file", name)?.0
        }
        None => file.clone(),
    };
    let backing = match &h.backing_file {
        Some(name) => {
            let (b, binfo) =
                opener.open_image("backing file", name, h.backing_format.as_deref())?;
            info.notes.push(format!(
                "backing file \"{name}\" ({}, {} bytes) read where this image has no data",
                binfo.format, binfo.virtual_size
            ));
            Some(b)
        }
        None => None,
    };

    let cluster_size = h.cluster_size();
    let q = Qcow2 {
        path: opener.path(),
        file,
        data,
        cluster_bits: h.cluster_bits,
        size: h.size,
        l2_bits: h.l2_bits(),
        extended_l2: h.extended_l2(),
        compression: h.compression,
        backing,
        l2_cache: Cache::new(
            ((L2_CACHE_BYTES / cluster_size) as usize).clamp(16, l1.len().max(16)),
        ),
        clusters: Cache::new(((CLUSTER_CACHE_BYTES / cluster_size) as usize).max(4)),
        l1,
    };
    Ok((Arc::new(q), info))
}

impl Qcow2 {
    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn corrupt(&self, what: String) -> ImageError {
        ImageError::corrupt(F, what)
    }

    /// The L2 table at host offset `off` (entries as u64, two per entry with extended L2).
    fn l2_table(&self, off: u64) -> Result<Arc<Vec<u64>>, ImageError> {
        self.l2_cache.get_or_load(off, || {
            let cs = self.cluster_size();
            if off % cs != 0 {
                return Err(self.corrupt(format!("L2 table offset {off} is not cluster aligned")));
            }
            let b = read_meta(self.file.as_ref(), F, "L2 table", off, cs as usize)?;
            Ok(b.chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    u64::from_be_bytes(a)
                })
                .collect())
        })
    }

    /// Maps `len` bytes (within one cluster, and within one subcluster with extended L2) at
    /// guest offset `off`; returns the mapping and how many bytes it covers.
    fn map(&self, off: u64, len: u64) -> Result<(Map, u64), ImageError> {
        let cs = self.cluster_size();
        let in_cluster = off & (cs - 1);
        let mut run = len.min(cs - in_cluster);
        let cluster = off >> self.cluster_bits;
        let l1_index = cluster >> self.l2_bits;
        let l2_index = (cluster & ((1 << self.l2_bits) - 1)) as usize;
        let Some(&l1e) = self.l1.get(l1_index as usize) else {
            return Err(self.corrupt(format!(
                "guest offset {off} is beyond the L1 table ({} entries)",
                self.l1.len()
            )));
        };
        let l2_off = l1e & OFFSET_MASK;
        if l2_off == 0 {
            return Ok((Map::Unallocated, run));
        }
        let table = self.l2_table(l2_off)?;
        let width = if self.extended_l2 { 2 } else { 1 };
        let entry = table.get(l2_index * width).copied().unwrap_or(0);
        if entry & L2_COMPRESSED != 0 {
            // Compressed descriptor: x = 62 - (cluster_bits - 8) offset bits, then the count of
            // additional 512-byte sectors.
            let x = 62 - (self.cluster_bits - 8);
            let offset = entry & ((1u64 << x) - 1);
            let sectors = ((entry >> x) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let clen = sectors * 512 - (offset & 511);
            return Ok((Map::Compressed { offset, len: clen }, run));
        }
        let host = entry & OFFSET_MASK;
        if self.extended_l2 {
            let bitmap = table.get(l2_index * 2 + 1).copied().unwrap_or(0);
            let sc_bits = self.cluster_bits - 5;
            let sc = (in_cluster >> sc_bits) as u32;
            let sc_size = 1u64 << sc_bits;
            run = run.min(sc_size - (in_cluster & (sc_size - 1)));
            let alloc = bitmap & (1 << sc) != 0;
            let zero = bitmap & (1 << (32 + sc)) != 0;
            return match (alloc, zero) {
                (true, true) => Err(self.corrupt(format!(
                    "subcluster {sc} of guest cluster {cluster} is both allocated and zero"
                ))),
                (_, true) => Ok((Map::Zero, run)),
                (true, false) if host == 0 => Err(self.corrupt(format!(
                    "subcluster {sc} of guest cluster {cluster} is allocated at offset 0"
                ))),
                (true, false) => self.data_at(host, in_cluster, run),
                (false, false) => Ok((Map::Unallocated, run)),
            };
        }
        if entry & L2_ZERO != 0 {
            return Ok((Map::Zero, run));
        }
        if host == 0 {
            return Ok((Map::Unallocated, run));
        }
        self.data_at(host, in_cluster, run)
    }

    fn data_at(&self, host: u64, in_cluster: u64, run: u64) -> Result<(Map, u64), ImageError> {
        if host % self.cluster_size() != 0 {
            return Err(self.corrupt(format!("data cluster offset {host} is not cluster aligned")));
        }
        let at = host + in_cluster;
        if at.checked_add(run).is_none_or(|e| e > self.data.size()) {
            return Err(self.corrupt(format!(
                "a data cluster at offset {host} lies beyond the end of the data file ({} bytes)",
                self.data.size()
            )));
        }
        Ok((Map::Data(at), run))
    }

    /// The inflated compressed cluster at host `offset`.
    fn compressed(&self, offset: u64, len: u64) -> Result<Arc<Vec<u8>>, ImageError> {
        self.clusters.get_or_load(offset, || {
            let fsize = self.file.size();
            if offset >= fsize {
                return Err(self.corrupt(format!(
                    "a compressed cluster at offset {offset} lies beyond the end of the file ({fsize} bytes)"
                )));
            }
            // The sector count is an upper bound: the last cluster may end before it does.
            let avail = len.min(fsize - offset);
            let input = read_meta(self.file.as_ref(), F, "compressed cluster", offset, avail as usize)?;
            let mut out = vec![0u8; self.cluster_size() as usize];
            match self.compression {
                Compression::Zlib => compress::inflate_exact(&input, &mut out, false),
                Compression::Zstd => compress::zstd_exact(&input, &mut out),
            }
            .map_err(|e| self.corrupt(format!("compressed cluster at offset {offset}: {e}")))?;
            Ok(out)
        })
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        // Contiguous data pieces are gathered into one read of the data file.
        let mut pending: Option<(u64, usize, usize)> = None; // (host, buf start, len)
        let flush =
            |p: &mut Option<(u64, usize, usize)>, buf: &mut [u8]| -> Result<(), ImageError> {
                if let Some((host, start, n)) = p.take() {
                    self.data.read_exact_at(host, &mut buf[start..start + n])?;
                }
                Ok(())
            };
        let mut done = 0usize;
        while done < buf.len() {
            let off = offset + done as u64;
            let (m, run) = self.map(off, (buf.len() - done) as u64)?;
            let run = run as usize;
            match m {
                Map::Data(host) => match &mut pending {
                    Some((h, s, n)) if *h + *n as u64 == host && *s + *n == done => *n += run,
                    _ => {
                        flush(&mut pending, buf)?;
                        pending = Some((host, done, run));
                    }
                },
                other => {
                    flush(&mut pending, buf)?;
                    let dst = &mut buf[done..done + run];
                    match other {
                        Map::Zero => dst.fill(0),
                        Map::Unallocated => self.read_backing(off, dst)?,
                        Map::Compressed { offset: c, len } => {
                            let data = self.compressed(c, len)?;
                            let in_cluster = (off & (self.cluster_size() - 1)) as usize;
                            match data.get(in_cluster..in_cluster + run) {
                                Some(s) => dst.copy_from_slice(s),
                                None => return Err(self.corrupt("short cluster".into())),
                            }
                        }
                        Map::Data(_) => {}
                    }
                }
            }
            done += run;
        }
        flush(&mut pending, buf)
    }

    /// Unallocated guest bytes: the backing file's, zeros past its end or without one.
    fn read_backing(&self, off: u64, dst: &mut [u8]) -> Result<(), ImageError> {
        let Some(b) = &self.backing else {
            dst.fill(0);
            return Ok(());
        };
        let bsize = b.size();
        let have = bsize.saturating_sub(off).min(dst.len() as u64) as usize;
        if have > 0 {
            b.read_exact_at(off, &mut dst[..have])?;
        }
        dst[have..].fill(0);
        Ok(())
    }
}

impl BlockSource for Qcow2 {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VolumeError> {
        check_range(offset, buf.len(), self.size)?;
        self.read(offset, buf)
            .map_err(|e| read_error(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::header::tests::v3_header;
    use super::*;
    use crate::volume::source::MemSource;

    const C: usize = 65536;

    /// A 1 GiB qcow2 in four clusters: header, (L2 at 1), (data at 2), L1 at 3.
    fn image(l1_0: u64, l2_0: u64) -> Result<Arc<dyn BlockSource>, ImageError> {
        let mut b = v3_header(1 << 30);
        b[3 * C..3 * C + 8].copy_from_slice(&l1_0.to_be_bytes());
        b[C..C + 8].copy_from_slice(&l2_0.to_be_bytes());
        b[2 * C..3 * C].fill(0xAB);
        let (q, _) = open(Arc::new(MemSource::new(b)), &Opener::memory())?;
        Ok(q)
    }

    fn read0(q: &Arc<dyn BlockSource>) -> Result<Vec<u8>, VolumeError> {
        let mut buf = vec![0u8; 4096];
        q.read_exact_at(0, &mut buf).map(|_| buf)
    }

    #[test]
    fn maps_data_zero_and_unallocated_clusters() {
        let q = image(C as u64, 2 * C as u64).unwrap();
        assert!(read0(&q).unwrap().iter().all(|&c| c == 0xAB));
        let q = image(C as u64, (2 * C as u64) | L2_ZERO).unwrap();
        assert!(read0(&q).unwrap().iter().all(|&c| c == 0));
        let q = image(0, 0).unwrap();
        assert!(read0(&q).unwrap().iter().all(|&c| c == 0));
        // The last byte of the disk, and one past it.
        let mut one = [0u8; 1];
        q.read_exact_at((1 << 30) - 1, &mut one).unwrap();
        assert!(q.read_exact_at(1 << 30, &mut one).is_err());
    }

    #[test]
    fn hostile_tables_are_errors() {
        let msg = |l1: u64, l2: u64| read0(&image(l1, l2).unwrap()).unwrap_err().to_string();
        // L2 table beyond the file, or not aligned.
        assert!(msg(50 * C as u64, 0).contains("L2 table at offset"));
        assert!(msg(C as u64 + 512, 0).contains("not cluster aligned"));
        // Data cluster beyond the file, or not aligned.
        assert!(msg(C as u64, 100 * C as u64).contains("beyond the end of the data file"));
        assert!(msg(C as u64, 2 * C as u64 + 512).contains("not cluster aligned"));
        // A compressed cluster of garbage, and one past the end of the file.
        assert!(msg(C as u64, L2_COMPRESSED | (2 * C as u64)).contains("compressed cluster"));
        assert!(msg(C as u64, L2_COMPRESSED | (90 * C as u64)).contains("beyond the end"));
        // Cyclic: the L1 table used as its own L2 table maps guest cluster 0 onto the L1
        // table; that is data like any other (bounded), not a loop.
        let q = image(3 * C as u64, 0).unwrap();
        assert_eq!(read0(&q).unwrap()[..8], (3 * C as u64).to_be_bytes());
    }
}
