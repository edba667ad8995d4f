pub mod adapters;
pub mod content;
pub mod identity;
pub mod llm;
pub mod oracle;
pub mod program;
pub mod session;
pub mod validation;
