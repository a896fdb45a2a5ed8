"""Small helpers shared by every package: errors, seeding, paths, JSON."""
