"""The adapter to Safaricom's Daraja API: the HTTP client and the credentials it signs
with. What a callback means and what money moves stay in :mod:`gamehub.payments`."""
