pub mod adapters;
pub mod llm;
pub mod session;
pub mod validation;
