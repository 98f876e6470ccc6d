//! Fact groups: which facts are gathered together, so the daemon can refresh each group on its
//! own interval and carry the others over from its previous run.
//!
//! [`Group`] names the groups (the keys of the config's `daemon.intervals` and the history's
//! list of gathered groups). Each slow group declares what it is once, as a [`Declared`]
//! constant `GROUP` beside its gatherer (`facts::database::GROUP`, `facts::client::GROUP`,
//! `facts::network::GROUP`, `facts::probe::GROUP`, `facts::docker::statx::GROUP`): its name,
//! its default interval and how a run that did not gather it keeps the previous value.
//! [`gather`](super::gather) reads a group only when
//! [`GatherOptions::groups`](super::GatherOptions::groups) holds it.

use serde::Deserialize;

use super::Facts;

/// A group of facts gathered together. `Base` (the host facts and the Docker engine and
/// containers) is read on every run: it is cheap and the others depend on the containers
/// found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Host facts and the Docker engine and containers: every run.
    Base,
    /// The statx container probe.
    StatxProbe,
    /// The disk latency probe.
    DiskProbe,
    /// Database connection, latency, settings.
    Database,
    /// The client's API.
    Client,
    /// Network reach and coreapp links.
    Network,
}

/// What a group is, declared once beside its gatherer.
#[derive(Debug)]
pub struct Declared {
    /// The group's name in the config (`daemon.intervals`), the history and the daemon's
    /// `/v1/status`; the same as its serde name.
    pub name: &'static str,
    /// Its interval in seconds when the config names none, from the daemon's base interval
    /// (`--interval`, `daemon.interval_seconds`, 300 by default).
    pub default_interval: fn(base: u64) -> u64,
    /// Copies the group's facts from the previous run (`prev`) into a run that did not gather
    /// them (`new`).
    pub carry_over: fn(new: &mut Facts, prev: &Facts),
}

/// The base group: gathered on every run, so nothing to carry over.
const BASE: Declared = Declared {
    name: "base",
    default_interval: |base| base.min(60),
    carry_over: |_, _| {},
};

impl Group {
    /// Every group, base first.
    pub const ALL: [Group; 6] = [
        Group::Base,
        Group::StatxProbe,
        Group::DiskProbe,
        Group::Database,
        Group::Client,
        Group::Network,
    ];

    /// The declaration beside the group's gatherer.
    pub fn declared(self) -> &'static Declared {
        match self {
            Group::Base => &BASE,
            Group::StatxProbe => &super::docker::statx::GROUP,
            Group::DiskProbe => &super::probe::GROUP,
            Group::Database => &super::database::GROUP,
            Group::Client => &super::client::GROUP,
            Group::Network => &super::network::GROUP,
        }
    }

    /// The group's name (`statx_probe`).
    pub fn as_str(self) -> &'static str {
        self.declared().name
    }

    /// The group's interval in seconds when the config names none; `base` is the daemon's
    /// base interval in seconds.
    pub fn default_interval(self, base: u64) -> u64 {
        (self.declared().default_interval)(base)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of groups: which ones a gathering reads. The base group is always read, whether the
/// set holds it or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups(u8);

impl Groups {
    /// Every group (`preflight check`, `facts`, `bundle`).
    pub fn all() -> Groups {
        Groups::of(&Group::ALL)
    }

    /// Exactly `groups`.
    pub fn of(groups: &[Group]) -> Groups {
        Groups(groups.iter().fold(0, |set, g| set | g.bit()))
    }

    /// Whether the set holds `g`.
    pub fn contains(self, g: Group) -> bool {
        self.0 & g.bit() != 0
    }
}

impl Default for Groups {
    fn default() -> Self {
        Groups::all()
    }
}

/// `new`, a run that gathered only `gathered`, with every other group's facts carried over
/// from the previous run `prev` (none on the first run).
pub fn carry_over(mut new: Facts, prev: Option<&Facts>, gathered: Groups) -> Facts {
    let Some(prev) = prev else { return new };
    for g in Group::ALL {
        if !gathered.contains(g) {
            (g.declared().carry_over)(&mut new, prev);
        }
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The declared name is the config's key: the two cannot drift apart.
    #[test]
    fn names_are_the_config_keys() {
        for g in Group::ALL {
            let parsed: Group = serde_json::from_value(serde_json::json!(g.as_str())).unwrap();
            assert_eq!(parsed, g, "{}", g.as_str());
        }
        let names: Vec<&str> = Group::ALL.iter().map(|g| g.as_str()).collect();
        assert_eq!(
            names,
            [
                "base",
                "statx_probe",
                "disk_probe",
                "database",
                "client",
                "network"
            ]
        );
    }

    #[test]
    fn default_intervals_follow_the_base_interval() {
        let at = |base| Group::ALL.map(|g| g.default_interval(base));
        // base, statx_probe, disk_probe, database, client, network
        assert_eq!(at(300), [60, 3600, 3600, 300, 60, 300]);
        assert_eq!(at(30), [30, 3600, 3600, 30, 30, 30]);
        assert_eq!(at(7200), [60, 7200, 7200, 7200, 60, 7200]);
    }

    /// A run that gathered only the base group keeps every slow group's facts from the
    /// previous run: the database, the client (with the webapp's clock offset), the network,
    /// the statx probe and each filesystem's latency.
    #[test]
    fn a_group_not_gathered_keeps_the_previous_runs_facts() {
        use crate::facts::Fact;
        use crate::facts::storage::LatencyFacts;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/ubuntu1804/facts.json"
        );
        let prev = crate::facts::load_facts_file(std::path::Path::new(path)).unwrap();
        let mut new = prev.clone();
        new.database = None;
        new.client = None;
        new.network = None;
        if let Some(Fact::Available(d)) = &mut new.docker {
            assert!(d.statx_probe.is_some(), "the fixture has a statx probe");
            d.statx_probe = None;
        }
        let Fact::Available(fs) = &mut new.host.storage else {
            panic!("the fixture has storage facts")
        };
        for f in fs.iter_mut() {
            f.latency = LatencyFacts {
                sync_write: Fact::Unavailable("not measured in this run".into()),
                random_read: Fact::Unavailable("not measured in this run".into()),
            };
        }
        let Some(Fact::Available(c)) = &mut new.host.clock else {
            panic!("the fixture has clock facts")
        };
        assert!(!c.peers.is_empty(), "the fixture has a clock peer");
        c.peers.clear();
        c.max_peer_offset_ms = None;
        c.max_peer_offset_of = None;
        assert_ne!(new, prev);

        let base_only = Groups::of(&[Group::Base]);
        assert_eq!(carry_over(new.clone(), Some(&prev), base_only), prev);
        // What a run gathered is its own; the first run has nothing to carry over.
        assert_eq!(carry_over(new.clone(), Some(&prev), Groups::all()), new);
        assert_eq!(carry_over(new.clone(), None, base_only), new);
        // One group at a time: only that group comes from the previous run.
        let mut all_but_database = Group::ALL.to_vec();
        all_but_database.retain(|g| *g != Group::Database);
        let kept = carry_over(new.clone(), Some(&prev), Groups::of(&all_but_database));
        assert_eq!(kept.database, prev.database);
        assert_eq!(kept.network, None);
    }

    #[test]
    fn sets_hold_what_they_were_given() {
        let s = Groups::of(&[Group::Base, Group::Client]);
        assert!(s.contains(Group::Base) && s.contains(Group::Client));
        assert!(!s.contains(Group::Database) && !s.contains(Group::StatxProbe));
        assert!(Group::ALL.iter().all(|g| Groups::all().contains(*g)));
        assert_eq!(Groups::default(), Groups::all());
    }
}
