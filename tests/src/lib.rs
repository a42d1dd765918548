//! Shared fixtures for the behaviour tests.
