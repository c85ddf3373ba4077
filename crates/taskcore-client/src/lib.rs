//! taskcore-client
