//! Git snapshot sink (sinks spec §6, §7).
