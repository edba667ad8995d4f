pub mod adapters;
pub mod content;
pub mod identity;
pub mod llm;
pub mod program;
pub mod session;
pub mod validation;
