#![no_main]
trustpin_fuzz::fixture_target!(rotation_walk, "rotation");
