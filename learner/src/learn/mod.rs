//! The learner: observed accesses → the smallest set of safe, general grants, and the overlay profile.
