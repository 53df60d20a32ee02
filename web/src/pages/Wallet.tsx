import { useEffect, useRef, useState } from "preact/hooks";
import { api, idempotent, money, unwrap, type Schemas } from "../api";
import { onPlayerEvent, wallet } from "../live";
import { Card, ErrorLine, Field, submitting, useAction, when } from "../ui";

type Payment = { kind: "deposit" | "withdrawal"; id: number; status: string; amount: number; detail: string | null };

export function WalletPage() {
  const current = wallet.value;
  const [payments, setPayments] = useState<Payment[]>([]);
  useEffect(
    () =>
      onPlayerEvent(({ event, data }) => {
        const update = data as { deposit_id?: number; withdrawal_id?: number; status: string; result_desc: string | null };
        const id = event === "deposit_update" ? update.deposit_id : event === "withdrawal_update" ? update.withdrawal_id : undefined;
        if (id === undefined) return;
        setPayments((list) => list.map((p) => (p.id === id && event.startsWith(p.kind) ? { ...p, status: update.status, detail: update.result_desc } : p)));
      }),
    [],
  );
  const track = (payment: Payment) => setPayments((list) => [payment, ...list]);
  return (
    <>
      <h1>Wallet</h1>
      <Card title="Balance">
        {current ? (
          <p class="balance">
            <span data-testid="balance">{money(current.balance, current.currency)}</span>
            {current.held > 0 && <small> ({money(current.held, current.currency)} held for withdrawals)</small>}
          </p>
        ) : (
          <p>Loading…</p>
        )}
      </Card>
      <PaymentForm kind="deposit" onStarted={track} />
      <PaymentForm kind="withdrawal" onStarted={track} />
      {payments.length > 0 && (
        <Card title="Payments in progress">
          <ul class="rows" aria-live="polite">
            {payments.map((p) => (
              <li key={`${p.kind}-${p.id}`} data-testid={`${p.kind}-${p.id}`}>
                {p.kind === "deposit" ? "Deposit" : "Withdrawal"} of {money(p.amount)}: <strong class={`status ${p.status}`}>{p.status}</strong>
                {p.detail && p.status !== "completed" && <small> {p.detail}</small>}
              </li>
            ))}
          </ul>
        </Card>
      )}
      <Transactions />
    </>
  );
}

function PaymentForm({ kind, onStarted }: { kind: "deposit" | "withdrawal"; onStarted: (p: Payment) => void }) {
  const [amount, setAmount] = useState("");
  const [phone, setPhone] = useState("");
  const action = useAction(async () => {
    const body = { amount: Number(amount), phone };
    if (kind === "deposit") {
      const d = await unwrap(api.POST("/deposit", { headers: idempotent(), body }));
      onStarted({ kind, id: d.deposit_id, status: d.status, amount: d.amount, detail: d.result_desc ?? null });
    } else {
      const w = await unwrap(api.POST("/withdraw", { headers: idempotent(), body }));
      onStarted({ kind, id: w.withdrawal_id, status: w.status, amount: w.amount, detail: w.result_desc ?? null });
    }
    setAmount("");
  });
  const title = kind === "deposit" ? "Deposit with M-Pesa" : "Withdraw to M-Pesa";
  return (
    <Card title={title}>
      <form onSubmit={submitting(action.run)}>
        <Field label="Amount (KES)" name={`${kind}-amount`} type="number" inputMode="numeric" min={1} step={1} required value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        <Field label="M-Pesa phone number" name={`${kind}-phone`} type="tel" autoComplete="tel" required placeholder="0712345678" value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        <ErrorLine error={action.error} />
        <button type="submit" disabled={action.busy}>{kind === "deposit" ? "Deposit" : "Withdraw"}</button>
      </form>
      {kind === "deposit" && (
        <p class="note">
          On the built-in M-Pesa simulator every amount succeeds except, by design, amounts ending in 11 (insufficient funds), 21,
          32 (cancelled by the customer), 37 (phone unreachable) and 91 to 96 (a lost, doubled or late callback): see docs/mpesa-simulator.md.
        </p>
      )}
    </Card>
  );
}

function Transactions() {
  const [items, setItems] = useState<Schemas["WalletTransactionOut"][]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const sentinel = useRef<HTMLLIElement>(null);
  const load = useAction(async () => {
    if (cursor === null) return;
    const page = await unwrap(api.GET("/wallet/transactions", { params: { query: { limit: 20, cursor: cursor ?? undefined } } }));
    setItems((list) => [...list, ...page.items]);
    setCursor(page.next_cursor ?? null);
  });
  useEffect(() => void load.run(), []);
  useEffect(() => {
    const target = sentinel.current;
    if (!target) return;
    // Infinite scroll: the next page loads when the end of the list comes into view.
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !load.busy && cursor) void load.run();
    });
    observer.observe(target);
    return () => observer.disconnect();
  }, [cursor, load.busy]);
  useEffect(
    () =>
      onPlayerEvent(({ event, data }) => {
        if (event === "transaction_update") setItems((list) => [data as Schemas["WalletTransactionOut"], ...list.filter((t) => t.id !== (data as { id: number }).id)]);
      }),
    [],
  );
  return (
    <Card title="History">
      <ErrorLine error={load.error} />
      <ul class="rows">
        {items.map((t) => (
          <li key={t.id}>
            <span>{t.description ?? t.category}</span>
            <span class={t.amount < 0 ? "minus" : "plus"}>{money(t.amount)}</span>
            <small>{when(t.created_at)} · balance {money(t.balance_after)}</small>
          </li>
        ))}
        <li ref={sentinel} class="sentinel" aria-hidden="true">{cursor === null ? (items.length ? "" : "No movements yet.") : "Loading…"}</li>
      </ul>
    </Card>
  );
}
