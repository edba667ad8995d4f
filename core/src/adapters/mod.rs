//! Adapter datasets (seed 004): training pairs from a node's command schemas.
