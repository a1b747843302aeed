"""Virtual keys, budgets, rate limits and spend: the admin operations and the request-time checks."""
