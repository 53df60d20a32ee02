"""The payments' rules: deposits (STK push), withdrawals (B2C), what they share, and the
operator's review. Controllers, jobs and the command line call these; all SQL is in
:mod:`gamehub.payments.repository`."""
