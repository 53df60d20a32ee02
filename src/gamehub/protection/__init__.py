"""Player protection: limits, time-outs, self-exclusion, reality checks, age and KYC."""
