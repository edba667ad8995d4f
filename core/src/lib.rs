pub mod session;
pub mod validation;
