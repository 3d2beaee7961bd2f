//! Snapshot sinks: complete inventory snapshots written as files (sinks spec §6–§9).

#[cfg(feature = "git")]
pub mod git;
#[cfg(feature = "object-store")]
pub mod object_store;
