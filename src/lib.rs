//! The root package holds the end-to-end tests (`tests/`) and benchmarks (`benches/`).
