//! The office's families: search as one types, and a family's page with its whole history.
