//! Training-session JIT (seed 000): formula, MRV/MEV, adjustment, hard constraints, strategies.
