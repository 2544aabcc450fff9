//! The SBPL engine: read Seatbelt profiles, evaluate them as libsandbox does, and decide
//! (operation, target) requests with the rule that decided them. See `../shared/docs/sbpl-reference.md`.
