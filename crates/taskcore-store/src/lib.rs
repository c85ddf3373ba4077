//! taskcore-store
