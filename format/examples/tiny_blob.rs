//! Prints the worked example of `docs/FORMAT.md`: a two-record snapshot, as a hex dump.

use std::sync::Arc;

use shoal_format::{
    write_snapshot, FieldKind, Record, Schema, StateBuilder, TypeDef, TypeId, Value, Version,
    WriteOptions,
};

fn main() -> shoal_format::Result<()> {
    let schema = Arc::new(Schema::new(vec![TypeDef::object("Movie")
        .field("id", FieldKind::I64)
        .field("title", FieldKind::String)
        .primary_key(&["id"])])?);
    let mut b = StateBuilder::new(schema);
    b.add(
        TypeId(0),
        Record::Object(vec![Value::I64(7), Value::String("Alien".into())]),
    )?;
    b.add(TypeId(0), Record::Object(vec![Value::I64(9), Value::Null]))?;
    let mut bytes = Vec::new();
    write_snapshot(
        &b.finish(),
        Version(1),
        &WriteOptions {
            page_shift: 4,
            key_indexes: false,
            dictionary: false,
        },
        &mut bytes,
    )?;
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        println!("{:04x}: {}", i * 16, hex.join(" "));
    }
    Ok(())
}
