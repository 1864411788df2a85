//! The StatusStore conformance suite (stories per behaviour).
