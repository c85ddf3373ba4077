//! taskcore-api
