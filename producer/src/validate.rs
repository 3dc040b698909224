//! Validators: checks that run on the next version before anything is announced, and can veto
//! the cycle. A vetoed cycle announces nothing, and the producer stays on its previous version.
//!
//! Built in: duplicate primary keys (always on: two records of a keyed type with one key, found
//! while the next version's key index is built) and [`RecordCountChange`] (a type's record count moved by more than a percentage). Users
//! implement [`Validator`] or wrap a closure with [`validator_fn`].

use shoal_format::{DataState, Ordinal, TypeId, Version};

/// What a validator sees: the version being published and the one before it.
#[derive(Debug)]
pub struct CycleView<'a> {
    /// The version the cycle would publish.
    pub version: Version,
    /// The version before (empty on the first cycle).
    pub previous: &'a DataState,
    /// The version being published.
    pub next: &'a DataState,
    /// Per type: ordinals of new records in `next` (edited ones included).
    pub added: &'a [Vec<Ordinal>],
    /// Per type: ordinals of `previous` that are gone (edited ones included).
    pub removed: &'a [Vec<Ordinal>],
    pub(crate) first: bool,
}

impl CycleView<'_> {
    /// True on the first cycle of a store (nothing published before).
    pub fn is_first(&self) -> bool {
        self.first
    }
}

/// A check on a cycle; an `Err` vetoes it with the reason given.
pub trait Validator: Send + Sync {
    /// A short name for messages.
    fn name(&self) -> &str;

    /// Checks the cycle.
    fn validate(&self, cycle: &CycleView<'_>) -> Result<(), String>;
}

/// A validator from a name and a closure.
pub fn validator_fn<F>(name: &str, f: F) -> Box<dyn Validator>
where
    F: Fn(&CycleView<'_>) -> Result<(), String> + Send + Sync + 'static,
{
    struct FnValidator<F>(String, F);
    impl<F> Validator for FnValidator<F>
    where
        F: Fn(&CycleView<'_>) -> Result<(), String> + Send + Sync + 'static,
    {
        fn name(&self) -> &str {
            &self.0
        }
        fn validate(&self, cycle: &CycleView<'_>) -> Result<(), String> {
            (self.1)(cycle)
        }
    }
    Box::new(FnValidator(name.to_string(), f))
}

/// Vetoes a cycle in which a type's record count changes by more than `max_percent` of the
/// previous count (all object types, or only `type_name`). Skipped on the first cycle.
#[derive(Debug, Clone)]
pub struct RecordCountChange {
    /// The type to watch; `None` watches every type.
    pub type_name: Option<String>,
    /// The largest change allowed, in percent of the previous count.
    pub max_percent: f64,
}

impl RecordCountChange {
    /// Watches every type.
    pub fn all_types(max_percent: f64) -> Self {
        RecordCountChange {
            type_name: None,
            max_percent,
        }
    }

    /// Watches one type.
    pub fn of_type(type_name: &str, max_percent: f64) -> Self {
        RecordCountChange {
            type_name: Some(type_name.to_string()),
            max_percent,
        }
    }
}

impl Validator for RecordCountChange {
    fn name(&self) -> &str {
        "record count change"
    }

    fn validate(&self, cycle: &CycleView<'_>) -> Result<(), String> {
        if cycle.is_first() {
            return Ok(());
        }
        let schema = cycle.next.schema();
        for (t, def) in schema.types().iter().enumerate() {
            if self.type_name.as_ref().is_some_and(|n| *n != def.name) {
                continue;
            }
            let ty = TypeId(t as u32);
            let (before, after) = (cycle.previous.len(ty) as f64, cycle.next.len(ty) as f64);
            if before == 0.0 {
                continue;
            }
            let change = (after - before).abs() / before * 100.0;
            if change > self.max_percent {
                return Err(format!(
                    "`{}` went from {before} to {after} records ({change:.1}% > {}%)",
                    def.name, self.max_percent
                ));
            }
        }
        if let Some(name) = &self.type_name {
            if schema.type_id(name).is_none() {
                return Err(format!("no type `{name}` in the schema"));
            }
        }
        Ok(())
    }
}
