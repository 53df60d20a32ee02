// A player's flow against Game Hub through types generated from docs/openapi.json:
// register, log in, deposit through the M-Pesa simulator, spin, join and play a roulette
// game, read the history. `make clients-check` type-checks it (tsc); it is not run, since
// the Python client plays the same flow against a live server in the test suite.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

function fail(what: string, error: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(error)}`);
}

function signedIn(token: string) {
  return { Authorization: `Bearer ${token}` };
}

async function register(username: string, password: string): Promise<string> {
  const created = await api.POST("/register", { body: { username, password, dob: "1990-01-01" } });
  if (!created.data) fail("register", created.error);
  const registered: Schemas["RegisterOut"] = created.data;
  const login = await api.POST("/login", { body: { username: registered.username, password } });
  if (!login.data) fail("login", login.error);
  return login.data.access_token;
}

async function deposit(token: string, amount: number): Promise<Schemas["DepositOut"]> {
  const started = await api.POST("/deposit", {
    headers: { ...signedIn(token), "Idempotency-Key": crypto.randomUUID() },
    body: { amount, phone: "254712345678" },
  });
  if (!started.data) fail("deposit", started.error);
  let payment: Schemas["DepositOut"] = started.data;
  // The simulator answers the STK push by callback a moment later.
  while (payment.status === "pending") {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const polled = await api.GET("/deposits/{deposit_id}", {
      headers: signedIn(token),
      params: { path: { deposit_id: payment.deposit_id } },
    });
    if (!polled.data) fail("get_deposit", polled.error);
    payment = polled.data;
  }
  return payment;
}

async function spin(token: string, stake: number): Promise<number> {
  const played = await api.POST("/games/spin-and-win/play", {
    headers: { ...signedIn(token), "Idempotency-Key": crypto.randomUUID() },
    body: { bet_amount: stake },
  });
  if (!played.data) fail("play_spin", played.error);
  const result: Schemas["SpinOut"] = played.data;
  return result.new_balance;
}

async function playRoulette(tokens: [string, string]): Promise<Schemas["RoomOut"]> {
  const seats = new Map<number, string>();
  let roomId = 0;
  for (const token of tokens) {
    const joined = await api.POST("/games/join", {
      headers: { ...signedIn(token), "Idempotency-Key": crypto.randomUUID() },
      body: { stake: 100, max_players: 2 },
    });
    if (!joined.data) fail("join_roulette", joined.error);
    seats.set(joined.data.seat, token);
    roomId = joined.data.roulette_id;
  }
  for (;;) {
    const state = await api.GET("/games/roulette/{roulette_id}", {
      params: { path: { roulette_id: roomId } },
    });
    if (!state.data) fail("get_roulette_room", state.error);
    const room: Schemas["RoomOut"] = state.data;
    if (room.status !== "playing") return room;
    const shooter = room.players.find((p) => p.user_id === room.next_player);
    const token = shooter === undefined ? undefined : seats.get(shooter.seat);
    if (token === undefined) fail("turn", room);
    const pulled = await api.POST("/games/pull-trigger", {
      headers: { ...signedIn(token), "Idempotency-Key": crypto.randomUUID() },
      body: { roulette_id: roomId },
    });
    if (!pulled.data) fail("pull_trigger", pulled.error);
    const pull: Schemas["PullOut"] = pulled.data;
    if (pull.game_over) continue;
  }
}

async function history(token: string): Promise<Schemas["HistoryItem"][]> {
  const listed = await api.GET("/history", { headers: signedIn(token), params: { query: { limit: 20 } } });
  if (!listed.data) fail("get_history", listed.error);
  return listed.data;
}

export async function main(): Promise<void> {
  const password = "Tr1cky-Marmot-42";
  const me = await register(`ts_${Date.now()}`, password);
  const rival = await register(`ts_${Date.now()}_b`, password);
  for (const token of [me, rival]) {
    const credited = await deposit(token, 500);
    if (credited.status !== "completed") fail("deposit", credited);
  }
  const balance: number = await spin(me, 10);
  const room = await playRoulette([me, rival]);
  const bets = await history(me);
  console.log({ balance, room: room.status, eliminated: room.eliminated_player, bets: bets.length });
}
