//! Random schemas, random states and random changes, from a seed, for the property tests
//! and the mutation suite. A tiny deterministic generator keeps every case reproducible from
//! the seed proptest prints.

#![allow(dead_code)]

use std::sync::Arc;

use shoal_format::{
    DataState, FieldKind, Ordinal, Record, Schema, TypeDef, TypeId, TypeKind, Value,
};

/// SplitMix64: small, fast, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A random schema: 1 to 4 object types (the first keyed by `id`), and up to 3 collection
/// types over them. Reference fields may point anywhere, cycles included.
pub fn schema(rng: &mut Rng) -> Arc<Schema> {
    let n_objects = 1 + rng.below(4) as usize;
    let n_collections = rng.below(4) as usize;
    let object_names: Vec<String> = (0..n_objects).map(|i| format!("O{i}")).collect();
    let collection_names: Vec<String> = (0..n_collections).map(|i| format!("C{i}")).collect();
    let all: Vec<String> = object_names
        .iter()
        .chain(&collection_names)
        .cloned()
        .collect();
    let mut types = Vec::new();
    for (i, name) in object_names.iter().enumerate() {
        let mut t = TypeDef::object(name);
        if i == 0 {
            t = t.field("id", FieldKind::I64).primary_key(&["id"]);
        }
        for f in 0..rng.below(7) {
            let kind = match rng.below(9) {
                0 => FieldKind::Bool,
                1 => FieldKind::I32,
                2 => FieldKind::I64,
                3 => FieldKind::F32,
                4 => FieldKind::F64,
                5 | 6 => FieldKind::String,
                7 => FieldKind::Bytes,
                _ => FieldKind::Reference(rng.pick(&all).clone()),
            };
            t = t.field(&format!("f{f}"), kind);
        }
        types.push(t);
    }
    for name in &collection_names {
        let a = rng.pick(&object_names).clone();
        let b = rng.pick(&all).clone();
        types.push(match rng.below(3) {
            0 => TypeDef::list(name, &a),
            1 => TypeDef::set(name, &a),
            _ => TypeDef::map(name, &a, &b),
        });
    }
    Arc::new(Schema::new(types).expect("generated schemas are valid"))
}

pub fn value(rng: &mut Rng, kind: &FieldKind, max_ordinal: u64) -> Value {
    if rng.chance(10) {
        return Value::Null;
    }
    match kind {
        FieldKind::Bool => Value::Bool(rng.chance(50)),
        FieldKind::I32 => Value::I32(match rng.below(3) {
            0 => rng.below(100) as i32,
            1 => 1900 + rng.below(130) as i32,
            _ => rng.next() as i32,
        }),
        FieldKind::I64 => Value::I64(match rng.below(3) {
            0 => rng.below(1000) as i64 - 500,
            1 => rng.below(20_000_000) as i64,
            _ => rng.next() as i64,
        }),
        FieldKind::F32 => Value::F32(match rng.below(4) {
            0 => (rng.below(100) as f32) / 10.0,
            1 => f32::from_bits(rng.next() as u32),
            2 => *rng.pick(&[f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE]),
            _ => rng.below(1000) as f32,
        }),
        FieldKind::F64 => Value::F64(match rng.below(4) {
            0 => (rng.below(100) as f64) / 10.0,
            1 => f64::from_bits(rng.next()),
            2 => *rng.pick(&[f64::NAN, -0.0, f64::NEG_INFINITY, 1e300]),
            _ => (rng.below(100_000) as f64) / 1000.0,
        }),
        FieldKind::String => Value::String(string(rng).into()),
        FieldKind::Bytes => Value::Bytes((0..rng.below(20)).map(|_| rng.next() as u8).collect()),
        FieldKind::Reference(_) => Value::Ref(Ordinal(rng.below(max_ordinal + 1) as u32)),
    }
}

pub fn string(rng: &mut Rng) -> String {
    const WORDS: [&str; 8] = ["the", "Drama", "", "café", "日本", "a b", "x\0y", "🐟"];
    (0..rng.below(4))
        .map(|_| *rng.pick(&WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ordinals(rng: &mut Rng, max_ordinal: u64) -> Vec<Ordinal> {
    (0..rng.below(6))
        .map(|_| Ordinal(rng.below(max_ordinal + 1) as u32))
        .collect()
}

/// A random record of type `ty`. Object type 0 gets the key `id` (filled in by the caller).
pub fn record(rng: &mut Rng, schema: &Schema, ty: TypeId, max_ordinal: u64) -> Record {
    let def = &schema.types()[ty.index()];
    match &def.kind {
        TypeKind::Object { fields, .. } => Record::Object(
            fields
                .iter()
                .map(|f| value(rng, &f.kind, max_ordinal))
                .collect(),
        ),
        TypeKind::List { .. } => Record::List(ordinals(rng, max_ordinal)),
        TypeKind::Set { .. } => Record::Set(ordinals(rng, max_ordinal)),
        TypeKind::Map { .. } => Record::Map(
            ordinals(rng, max_ordinal)
                .into_iter()
                .map(|k| (k, Ordinal(rng.below(max_ordinal + 1) as u32)))
                .collect(),
        ),
    }
}

/// A random state of `schema` with up to `size` records per type, on sparse ordinals.
pub fn state(rng: &mut Rng, schema: &Arc<Schema>, size: u64) -> DataState {
    let mut state = DataState::new(schema.clone());
    let mut next_id = 0i64;
    for t in 0..schema.type_count() {
        let ty = TypeId(t as u32);
        let n = rng.below(size + 1);
        let spread = 1 + rng.below(3);
        for _ in 0..n {
            let o = Ordinal(rng.below(n * spread + 1) as u32);
            let r = keyed(rng, schema, ty, size, &mut next_id);
            state.insert(ty, o, r).expect("generated records fit");
        }
    }
    state
}

fn keyed(rng: &mut Rng, schema: &Schema, ty: TypeId, size: u64, next_id: &mut i64) -> Record {
    let mut r = record(rng, schema, ty, size * 3);
    if ty.0 == 0 {
        if let Record::Object(values) = &mut r {
            *next_id += 1;
            values[0] = Value::I64(*next_id);
        }
    }
    canonical(r)
}

fn canonical(mut r: Record) -> Record {
    if let Record::Map(entries) = &mut r {
        entries.sort();
        entries.dedup_by_key(|e| e.0);
    }
    r
}

/// A random change of `a`: removals, edits in place, edits that move a keyed record to
/// another ordinal, and additions in freed or new slots.
pub fn change(rng: &mut Rng, a: &DataState, percent: u64) -> DataState {
    let schema = a.schema().clone();
    let mut b = a.clone();
    let mut next_id = 1_000_000i64;
    for t in 0..schema.type_count() {
        let ty = TypeId(t as u32);
        let existing: Vec<(Ordinal, Record)> = a.records(ty).map(|(o, r)| (o, r.clone())).collect();
        let slots = a.slot_count(ty) as u64;
        for (o, r) in &existing {
            if !rng.chance(percent) {
                continue;
            }
            match rng.below(4) {
                0 => {
                    b.remove(ty, *o);
                }
                1 => {
                    b.insert(ty, *o, edit(rng, &schema, ty, r, slots))
                        .expect("fits");
                }
                2 => {
                    b.remove(ty, *o);
                    let to = Ordinal((slots + rng.below(slots + 2)) as u32);
                    if b.get(ty, to).is_none() {
                        b.insert(ty, to, edit(rng, &schema, ty, r, slots))
                            .expect("fits");
                    }
                }
                _ => {
                    let to = Ordinal(rng.below(slots * 2 + 2) as u32);
                    if b.get(ty, to).is_none() {
                        let r = keyed(rng, &schema, ty, slots.max(1), &mut next_id);
                        b.insert(ty, to, r).expect("fits");
                    }
                }
            }
        }
    }
    b
}

/// The record with one field (or the whole collection) changed; the key stays.
fn edit(rng: &mut Rng, schema: &Schema, ty: TypeId, r: &Record, slots: u64) -> Record {
    let fresh = canonical(record(rng, schema, ty, slots.max(1)));
    match (r, fresh) {
        (Record::Object(old), Record::Object(new)) if old.len() > 1 => {
            let mut values = old.clone();
            let f = 1 + rng.below(old.len() as u64 - 1) as usize;
            values[f] = new[f].clone();
            Record::Object(values)
        }
        (Record::Object(old), _) => Record::Object(old.clone()),
        (_, fresh) => fresh,
    }
}

/// A compatible change of `schema`: fields added to or removed from object types (never the
/// key), an object type added, a type nothing refers to removed; types and fields keep their
/// names, so a version of `schema` reads in the new one (`shoal_format::Projected`).
pub fn evolve(rng: &mut Rng, schema: &Schema) -> Arc<Schema> {
    let mut types: Vec<TypeDef> = schema.types().to_vec();
    let names: Vec<String> = types.iter().map(|t| t.name.clone()).collect();
    for t in &mut types {
        let TypeKind::Object { fields, .. } = &mut t.kind else {
            continue;
        };
        // A field removed here is not added back under its name with another kind.
        let before: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
        if fields.len() > 1 && rng.chance(30) {
            let f = 1 + rng.below(fields.len() as u64 - 1) as usize;
            if fields[f].name != "id" {
                fields.remove(f);
            }
        }
        if rng.chance(40) {
            let kind = match rng.below(4) {
                0 => FieldKind::String,
                1 => FieldKind::I64,
                2 => FieldKind::Bool,
                _ => FieldKind::Reference(rng.pick(&names).clone()),
            };
            let name = format!("n{}", rng.below(1000));
            if !before.contains(&name) {
                fields.push(shoal_format::FieldDef { name, kind });
            }
        }
    }
    if rng.chance(30) {
        let referred = |name: &str, types: &[TypeDef]| {
            types.iter().any(|t| match &t.kind {
                TypeKind::Object { fields, .. } => fields
                    .iter()
                    .any(|f| f.kind == FieldKind::Reference(name.to_string())),
                TypeKind::List { element } | TypeKind::Set { element } => element == name,
                TypeKind::Map { key, value } => key == name || value == name,
            })
        };
        let candidates: Vec<usize> = (1..types.len())
            .filter(|&i| !referred(&types[i].name, &types))
            .collect();
        if !candidates.is_empty() {
            let i = *rng.pick(&candidates);
            types.remove(i);
        }
    }
    if rng.chance(30) {
        let at = rng.below(types.len() as u64 + 1) as usize;
        let name = format!("N{}", rng.below(1000));
        if !types.iter().any(|t| t.name == name) {
            types.insert(
                at.max(1),
                TypeDef::object(&name).field("v", FieldKind::String),
            );
        }
    }
    Arc::new(Schema::new(types).expect("a compatible change is a valid schema"))
}

/// `a` moved to `schema` (a compatible change of its own): read in it, then changed by
/// `percent`, with values in some of the new fields and records in new types.
pub fn migrate(rng: &mut Rng, a: &DataState, schema: &Arc<Schema>, percent: u64) -> DataState {
    let mut b = change(
        rng,
        &a.projected(schema.clone()).expect("compatible"),
        percent,
    );
    for t in 0..schema.type_count() {
        let ty = TypeId(t as u32);
        let records: Vec<(Ordinal, Record)> = b.records(ty).map(|(o, r)| (o, r.clone())).collect();
        let slots = b.slot_count(ty).max(1) as u64;
        for (o, r) in records {
            if rng.chance(percent) {
                let filled = edit(rng, schema, ty, &r, slots);
                b.insert(ty, o, filled).expect("fits");
            }
        }
        if a.schema().type_id(&schema.types()[t].name).is_none() {
            for o in 0..rng.below(5) {
                let r = record(rng, schema, ty, slots);
                b.insert(ty, Ordinal(o as u32), canonical(r)).expect("fits");
            }
        }
    }
    b
}
