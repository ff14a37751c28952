"""Model sources: anything that gives next-token distributions over token sequences."""
