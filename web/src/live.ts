// The player's live state, fed by their own event stream: pages read these signals and
// update as events arrive, without polling.
import { signal } from "@preact/signals";
import { api, unwrap, type Schemas } from "./api";
import { openPlayerStream, type StreamEvent } from "./stream";

export const wallet = signal<Schemas["WalletOut"] | null>(null);
/** The last reality check (PUT /responsible-gaming reality_check_minutes), until dismissed. */
export const reminder = signal<{ session_minutes: number; net_result: number } | null>(null);
/** Every event of the player's stream since the page loaded, newest last. */
export const events = signal<StreamEvent[]>([]);

type Listener = (event: StreamEvent) => void;
const listeners = new Set<Listener>();

/** Call ``listener`` for each event of the player's stream until the returned function runs. */
export function onPlayerEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export async function refreshWallet(): Promise<void> {
  wallet.value = await unwrap(api.GET("/wallet"));
}

function handle(event: StreamEvent): void {
  events.value = [...events.value.slice(-49), event];
  const data = event.data as Record<string, unknown>;
  if (event.event === "transaction_update" && typeof data.balance_after === "number" && wallet.value) {
    wallet.value = { ...wallet.value, balance: data.balance_after };
  }
  if (event.event === "connected" || event.event === "deposit_update" || event.event === "withdrawal_update") {
    // held funds change with payments; the balance event above carries only the balance
    void refreshWallet().catch(() => undefined);
  }
  if (event.event === "reality_check") reminder.value = data as { session_minutes: number; net_result: number };
  for (const listener of listeners) listener(event);
}

export function startPlayerEvents(): () => void {
  void refreshWallet().catch(() => undefined);
  return openPlayerStream(handle);
}
