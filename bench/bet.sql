-- The pgbench baseline of the write scenarios: what one bet must write, in the plain
-- form (5 round trips with BEGIN and END): a guarded debit of the player's wallet, the
-- bet's two ledger entries (player and house) and the bet row. It runs on tables of
-- its own shaped like ours (schema bench_bet, made by bench/suite.py with
-- CREATE TABLE ... (LIKE public.x INCLUDING ALL)), on the bench database.
--   pgbench -n -M prepared -c 16 -j 2 -T 10 -f bench/bet.sql -D wallets=1000 -D house=1001
\set aid random(1, :wallets)
\set tx random(1, 2000000000)
BEGIN;
UPDATE bench_bet.ledger_accounts SET balance = balance - 1000, updated_at = now()
  WHERE id = :aid AND balance >= 1000;
INSERT INTO bench_bet.ledger_entries (transaction_id, account_id, amount, balance_after, created_at)
  VALUES (:tx, :aid, -1000, NULL, now()), (:tx, :house, 1000, NULL, now());
INSERT INTO bench_bet.bets (user_id, game_id, kind, status, amount, win_amount, result,
    server_seed_hash, client_seed, nonce, details, created_at, settled_at, stake_tax,
    winnings_tax, reward_table_version)
  VALUES (:aid, 1, 'spin', 'settled', 1000, 0, '0x',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'bench', :tx, '{}',
    now(), now(), 0, 0, 1);
END;
