//! The families screen: search, and a family's page with its history.
