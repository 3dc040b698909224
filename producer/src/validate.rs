//! Validators: checks that run on the next version before anything is announced, and can veto
//! the cycle. A vetoed cycle announces nothing, and the producer stays on its previous version.
//!
//! Built in: duplicate primary keys (always on: two records of a keyed type with one key, found
//! among the neighbours of the snapshot's key index section, see `cycle`), the removal guard (on by default: see
//! [`ProducerBuilder::max_removal`](crate::ProducerBuilder::max_removal)) and
//! [`RecordCountChange`] (a type's record count moved by more than a percentage). Users
//! implement [`Validator`] or wrap a closure with [`validator_fn`].

use shoal_format::{Ordinal, Schema, TypeId, TypeKind, Version, VersionSource};

use crate::error::{share, Error};

/// What a validator sees: the version being published and the one before it, both read in
/// place ([`VersionSource`]: counts, ordinals, fields, whole records), never copied.
pub struct CycleView<'a> {
    /// The version the cycle would publish.
    pub version: Version,
    /// The version before (empty on the first cycle).
    pub previous: &'a dyn VersionSource,
    /// The version being published.
    pub next: &'a dyn VersionSource,
    /// Per type: ordinals of new records in `next` (edited ones included).
    pub added: &'a [Vec<Ordinal>],
    /// Per type: ordinals of `previous` that are gone (edited ones included).
    pub removed: &'a [Vec<Ordinal>],
    pub(crate) first: bool,
}

impl std::fmt::Debug for CycleView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleView")
            .field("version", &self.version)
            .field(
                "added",
                &self.added.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .field(
                "removed",
                &self.removed.iter().map(Vec::len).collect::<Vec<_>>(),
            )
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
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
            let (before, after) = (
                cycle.previous.record_count(ty) as f64,
                cycle.next.record_count(ty) as f64,
            );
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

/// The default guard against publishing a truncated or empty input (an upstream job that
/// failed half way): a cycle that empties a type that has records, or removes more than
/// `max_percent` of a type's records, is refused before anything is encoded. Skipped on the
/// first cycle. Set with [`ProducerBuilder::max_removal`](crate::ProducerBuilder::max_removal)
/// and [`ProducerBuilder::allow_empty`](crate::ProducerBuilder::allow_empty).
///
/// **Removed** means records of the current version that the next one no longer holds, edits
/// excluded: for a type with a primary key, a record replaced by one with the same key is an
/// edit (exact); for a type without one, an edit cannot be told from a removal plus an
/// addition, so every added record is taken to replace a removed one and the guard counts the
/// net loss (`before - after`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RemovalGuard {
    /// The largest share of a type's records a cycle may remove, in percent; `None`: no limit.
    pub(crate) max_percent: Option<f64>,
    /// A cycle may remove every record of a type.
    pub(crate) allow_empty: bool,
}

impl Default for RemovalGuard {
    fn default() -> Self {
        RemovalGuard {
            max_percent: Some(RemovalGuard::DEFAULT_MAX_PERCENT),
            allow_empty: false,
        }
    }
}

/// One type's counts in a cycle.
#[derive(Debug, Clone, Copy)]
struct Counts {
    before: u64,
    after: u64,
    removed: u64,
}

impl RemovalGuard {
    /// The default limit, in percent of a type's records (see docs/PRODUCER.md for why).
    pub(crate) const DEFAULT_MAX_PERCENT: f64 = 10.0;

    /// Removing at most this many records of a type never trips the limit, so a small type
    /// can change freely (emptying one is still refused).
    pub(crate) const FLOOR: u64 = 10;

    /// Checks every type of a cycle from `previous` to `next` (per type: `removed` and `added`
    /// ordinals, both including edits, and `edited`, the in-place edits by primary key).
    pub(crate) fn check(
        &self,
        version: Version,
        previous: &dyn VersionSource,
        next: &dyn VersionSource,
        (removed, added, edited): (&[Vec<Ordinal>], &[Vec<Ordinal>], &[u64]),
    ) -> Result<(), Error> {
        let schema = next.schema();
        for (t, def) in schema.types().iter().enumerate() {
            let ty = TypeId(t as u32);
            let removals = removed[t].len() as u64;
            let replaced = if is_keyed(schema, ty) {
                edited[t]
            } else {
                removals.min(added[t].len() as u64)
            };
            let counts = Counts {
                before: previous.record_count(ty),
                after: next.record_count(ty),
                removed: removals - replaced,
            };
            self.check_type(version, &def.name, counts)?;
        }
        Ok(())
    }

    fn check_type(&self, version: Version, name: &str, c: Counts) -> Result<(), Error> {
        if c.before == 0 || c.removed == 0 {
            return Ok(());
        }
        if c.after == 0 {
            if self.allow_empty {
                return Ok(());
            }
            return Err(Error::WouldEmpty {
                version,
                type_name: name.to_string(),
                before: c.before,
            });
        }
        match self.max_percent {
            Some(max) if c.removed > Self::FLOOR && share(c.removed, c.before) > max => {
                Err(Error::TooManyRemovals {
                    version,
                    type_name: name.to_string(),
                    before: c.before,
                    after: c.after,
                    removed: c.removed,
                    max_percent: max,
                })
            }
            _ => Ok(()),
        }
    }
}

fn is_keyed(schema: &Schema, ty: TypeId) -> bool {
    matches!(
        schema.types()[ty.index()].kind,
        TypeKind::Object {
            primary_key: Some(_),
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(before: u64, after: u64, removed: u64) -> Counts {
        Counts {
            before,
            after,
            removed,
        }
    }

    fn check(guard: RemovalGuard, c: Counts) -> Result<(), Error> {
        guard.check_type(Version(2), "Movie", c)
    }

    #[test]
    fn emptying_a_type_is_refused_unless_allowed() {
        let guard = RemovalGuard::default();
        let err = check(guard, counts(3, 0, 3)).unwrap_err();
        assert!(matches!(err, Error::WouldEmpty { before: 3, .. }), "{err}");
        let allowed = RemovalGuard {
            allow_empty: true,
            ..guard
        };
        assert!(check(allowed, counts(3000, 0, 3000)).is_ok());
    }

    #[test]
    fn removing_more_than_the_share_is_refused_and_the_message_names_the_setting() {
        let err = check(RemovalGuard::default(), counts(3000, 1000, 2000)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::TooManyRemovals { removed: 2000, .. }));
        for part in [
            "2000 of 3000 `Movie`",
            "66.7%",
            "10% allowed",
            "max_removal",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
    }

    #[test]
    fn the_share_and_the_floor_are_limits_not_thresholds() {
        let guard = RemovalGuard::default();
        assert!(check(guard, counts(3000, 2700, 300)).is_ok());
        assert!(check(guard, counts(3000, 2699, 301)).is_err());
        assert!(check(guard, counts(20, 10, 10)).is_ok(), "within the floor");
        assert!(check(guard, counts(20, 9, 11)).is_err());
    }

    #[test]
    fn no_limit_still_refuses_emptying() {
        let guard = RemovalGuard {
            max_percent: None,
            allow_empty: false,
        };
        assert!(check(guard, counts(3000, 1, 2999)).is_ok());
        assert!(check(guard, counts(3000, 0, 3000)).is_err());
    }
}
