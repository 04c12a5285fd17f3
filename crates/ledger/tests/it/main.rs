//! The ledger's one integration-test binary: hand-written scenarios and the model-based property test.

mod model;
mod scenarios;
