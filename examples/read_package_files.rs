//! Benchmark helper (scripts/bench-image.sh): reads every regular file the guest's dpkg
//! `*.list` files name, through the same volume/filesystem layers `check` uses, and prints how
//! many files and bytes it read. Stands in for package verification until `verify` lands.
//!
//! Usage: cargo run --release --example read_package_files -- TARGET [--allow-backing]

use std::io::Read;
use std::path::PathBuf;

use rescue_inspect::inspect;
use rescue_inspect::volume::ImageOptions;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(target) = args.next().map(PathBuf::from) else {
        eprintln!("usage: read_package_files TARGET [--allow-backing]");
        std::process::exit(2);
    };
    let options = ImageOptions {
        allow_backing: args.any(|a| a == "--allow-backing"),
    };
    let insp = match inspect::inspect_with(&target, None, &options) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}: {e}", target.display());
            std::process::exit(2);
        }
    };
    let Some(root) = insp.root.as_ref() else {
        eprintln!("{}: no root filesystem", target.display());
        std::process::exit(2);
    };
    let fs = &root.fs;
    let mut lists: Vec<String> = fs
        .read_dir("/var/lib/dpkg/info")
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".list"))
        .collect();
    lists.sort();
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    for l in lists {
        let text = fs
            .read_to_string_lossy(format!("/var/lib/dpkg/info/{l}"))
            .unwrap_or_default();
        for path in text.lines() {
            let Ok(md) = fs.symlink_metadata(path) else {
                continue;
            };
            if !md.is_file() {
                continue;
            }
            let Ok(mut r) = fs.open(path) else { continue };
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                bytes += n as u64;
            }
            files += 1;
        }
    }
    println!("{files} files, {bytes} bytes");
}
