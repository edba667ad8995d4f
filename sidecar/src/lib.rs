//! Library half of the sidecar: adapter storage, upload policy, node notification and the
//! artifact sweeper, shared by the `jitgen` binary and the end-to-end tests.

pub mod notify;
pub mod storage;
pub mod sweeper;
pub mod upload;
