//! The soak's schedule, drawn from the seed before anything starts: kills (the producer and
//! consumers in turn), outage windows (blobs and the announcement in turn), and one pin and
//! unpin, each set off when the producer has announced a given version (so a slow machine
//! shifts the schedule, never skips it), plus a random delay within one interval so a kill
//! lands anywhere in a cycle.

use super::args::Args;
use super::files::Outage;
use crate::catalog::Rng;

/// What the orchestrator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL the producer (it is restarted).
    KillProducer,
    /// SIGKILL consumer `i` (it is restarted on its cache).
    KillConsumer(usize),
    /// Start an outage window (it ends by itself after `--fault-ms`).
    Outage(Outage),
    /// Pin the fleet two versions back.
    Pin,
    /// Unpin it.
    Unpin,
}

/// An action and when it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Once this version is announced...
    pub at_version: u64,
    /// ...and this much later.
    pub delay_ms: u64,
    /// What to do.
    pub action: Action,
}

/// The schedule of a soak, ordered by version.
pub fn plan(args: &Args) -> Vec<Event> {
    let mut rng = Rng::new(args.seed ^ 0x5eed_f1ee7);
    let v = args.versions.max(1);
    let at = |rng: &mut Rng, from: u64, to: u64| {
        let (lo, hi) = (v * from / 100, v * to / 100);
        (lo + rng.below(hi.saturating_sub(lo) + 1)).clamp(1, v)
    };
    let mut events = Vec::new();
    for i in 0..args.kills {
        let action = if i % 2 == 0 || args.consumers == 0 {
            Action::KillProducer
        } else {
            Action::KillConsumer(rng.below(args.consumers as u64) as usize)
        };
        let at_version = at(&mut rng, 10, 85);
        events.push(event(&mut rng, args, at_version, action));
    }
    for i in 0..args.faults {
        let outage = [Outage::Blobs, Outage::Announcement][i % 2];
        let at_version = at(&mut rng, 15, 80);
        events.push(event(&mut rng, args, at_version, Action::Outage(outage)));
    }
    if args.pins > 0 && v >= 5 {
        let pin = (v * 40 / 100).max(3);
        let unpin = (v * 60 / 100).max(pin + 2).min(v);
        events.push(event(&mut rng, args, pin, Action::Pin));
        events.push(event(&mut rng, args, unpin, Action::Unpin));
    }
    events.sort_by_key(|e| e.at_version);
    events
}

fn event(rng: &mut Rng, args: &Args, at_version: u64, action: Action) -> Event {
    Event {
        at_version,
        delay_ms: rng.below(args.interval_ms + 1),
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_kills_both_roles_and_pins_before_it_unpins() {
        let args = Args {
            kills: 4,
            faults: 2,
            versions: 30,
            ..Args::default()
        };
        let events = plan(&args);
        let count = |f: &dyn Fn(&Action) -> bool| events.iter().filter(|e| f(&e.action)).count();
        assert_eq!(count(&|a| *a == Action::KillProducer), 2);
        assert_eq!(count(&|a| matches!(a, Action::KillConsumer(_))), 2);
        assert_eq!(count(&|a| matches!(a, Action::Outage(_))), 2);
        let when = |a: Action| events.iter().find(|e| e.action == a).unwrap().at_version;
        assert!(when(Action::Pin) < when(Action::Unpin));
        assert!(events.iter().all(|e| (1..=30).contains(&e.at_version)));
    }
}
