//! LVM2 metadata on arbitrary bytes: the text parser, the VG built from it and every LV's
//! segment map (with a fake PV set), and the label / metadata-area headers. Never a panic, a
//! hang or an unbounded allocation.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use rescue_inspect::volume::lvm::{config, label, map_lv, vg};

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = config::parse(data) {
        if let Ok(g) = vg::from_config(&root) {
            let pvs = HashMap::new();
            for lv in &g.lvs {
                let _ = map_lv(&g, lv, &pvs);
                let _ = lv.unsupported();
            }
        }
    }
    let _ = label::parse_label(data);
    if data.len() >= 512 {
        let _ = label::parse_mda_header(&data[..512], label::DiskLocn { offset: 4096, size: 0 });
    }
});
