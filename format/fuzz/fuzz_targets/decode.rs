//! Feeds arbitrary bytes to every decoder of shoal-format: the snapshot and delta readers,
//! their full verification, the materialising decode, every column read, and the schema
//! decoder. Any panic, out-of-bounds read or runaway allocation is a bug.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run decode -- -max_total_time=60` from `format/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_format::{ColumnKind, DeltaView, FieldId, Schema, SnapshotView, TypeId, VarKind};

fuzz_target!(|data: &[u8]| {
    let _ = Schema::decode(data);
    if let Ok(view) = SnapshotView::open(data) {
        let _ = view.verify();
        let state = view.to_state();
        let schema = view.schema_arc().clone();
        for t in 0..schema.type_count() {
            let ty = TypeId(t as u32);
            for (c, kind) in schema.columns(ty).iter().enumerate() {
                let Ok(reader) = view.column(ty, FieldId(c as u32)) else { continue };
                for i in 0..(view.slot_count(ty) as usize).min(4096) + 1 {
                    match kind {
                        ColumnKind::Var(VarKind::Ordinals(_) | VarKind::Pairs(..)) => {
                            let _ = reader.elements(i).map(|e| e.count());
                        }
                        _ => {
                            let _ = reader.value(i);
                        }
                    }
                }
            }
        }
        if let (Ok(state), Ok(delta)) = (state, DeltaView::open(data)) {
            let _ = delta.apply(&state);
        }
    }
    if let Ok(view) = DeltaView::open(data) {
        let _ = view.verify();
        let empty = shoal_format::DataState::new(view.schema().clone());
        let _ = view.apply(&empty);
    }
});
