"""shotseek: search video footage by meaning."""
