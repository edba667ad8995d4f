pub mod adapters;
pub mod identity;
pub mod llm;
pub mod program;
pub mod session;
pub mod validation;
