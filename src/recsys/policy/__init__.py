"""Control-plane policy: segments, rules, effective configuration."""
