//! MongoDB sink (sinks spec §12): being written.
