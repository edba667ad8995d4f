pub mod adapters;
pub mod identity;
pub mod llm;
pub mod session;
pub mod validation;
