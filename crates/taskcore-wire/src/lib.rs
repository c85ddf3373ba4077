//! taskcore-wire
