#![no_main]
trustpin_fuzz::fixture_target!(delegation_tree, "delegations");
