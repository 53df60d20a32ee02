import { useEffect, useRef, useState } from "preact/hooks";
import { api, idempotent, money, session, unwrap, type Schemas } from "../api";
import { openRoomStream, type StreamEvent, type StreamState } from "../stream";
import { verifyRoom, type Verdict } from "../fairness";
import { Card, ErrorLine, Field, submitting, useAction, when } from "../ui";

// The room's own rake, fixed when it opened: the terms a player joins at.
function rake(room: Schemas["RoomOut"]): string {
  return `${room.rake_bps / 100}%`;
}

export function LobbyPage() {
  const [rooms, setRooms] = useState<Schemas["RoomOut"][]>([]);
  const [stake, setStake] = useState("50");
  const [size, setSize] = useState("2");
  const [watch, setWatch] = useState("");
  const load = useAction(async () => setRooms((await unwrap(api.GET("/games/roulette", { params: { query: { limit: 50 } } }))).items));
  useEffect(() => {
    void load.run();
    const timer = setInterval(() => void load.run(), 5000);
    return () => clearInterval(timer);
  }, []);
  const join = useAction(async () => {
    const joined = await unwrap(api.POST("/games/join", { headers: idempotent(), body: { stake: Number(stake), max_players: Number(size) } }));
    location.hash = `#/roulette/${joined.roulette_id}`;
  });
  return (
    <>
      <h1>Russian Roulette</h1>
      {session.value ? (
        <Card title="Take a seat">
          <form onSubmit={submitting(join.run)}>
            <Field label="Stake (KES)" name="roulette-stake" type="number" min={1} step="0.01" required value={stake} onInput={(e) => setStake(e.currentTarget.value)} />
            <div class="field">
              <label for="room-size">Players</label>
              <select id="room-size" value={size} onChange={(e) => setSize(e.currentTarget.value)}>
                <option value="2">2</option>
                <option value="3">3</option>
                <option value="6">6</option>
              </select>
            </div>
            <ErrorLine error={join.error} />
            <button type="submit" disabled={join.busy}>Join a table</button>
          </form>
        </Card>
      ) : (
        <p><a href="#/">Log in</a> to play; anyone can watch.</p>
      )}
      <Card title="Open rooms">
        <ErrorLine error={load.error} />
        <ul class="rows" data-testid="lobby">
          {rooms.length === 0 && <li>No open rooms right now.</li>}
          {rooms.map((room) => (
            <li key={room.roulette_id}>
              <a href={`#/roulette/${room.roulette_id}`}>
                Room #{room.roulette_id}: {money(room.stake)} stake, {rake(room)} rake, {room.players.length}/{room.max_players} players, {room.status}
              </a>
            </li>
          ))}
        </ul>
        <form onSubmit={submitting(() => (location.hash = `#/roulette/${Number(watch)}`))} class="inline">
          <Field label="Watch room number" name="watch" type="number" min={1} required value={watch} onInput={(e) => setWatch(e.currentTarget.value)} />
          <button type="submit">Watch</button>
        </form>
      </Card>
    </>
  );
}

function describe(event: StreamEvent, names: Map<number, string>): string | null {
  const data = event.data as Record<string, unknown>;
  const who = (id: unknown) => names.get(id as number) ?? `player ${String(id)}`;
  switch (event.event) {
    case "game_started":
      return "The game started.";
    case "trigger_result":
      return `${who(data.player_id)} pulled chamber ${String(data.chamber)}: ${data.is_hit ? "BANG" : "click"}${data.forced ? " (out of time)" : ""}.`;
    case "player_left":
      return `${who(data.user_id)} left.`;
    case "game_result":
      return "The game is over.";
    case "room_cancelled":
      return "The room was cancelled; stakes were refunded.";
    case "bet_placed":
      return `${who(data.user_id)} bet ${money(data.bet_amount as number)} on ${who(data.player_id)}'s ${String(data.bet_type)}.`;
    case "bet_cancelled":
      return `A side bet of ${money(data.bet_amount as number)} was cancelled.`;
    case "game_status":
      return null;
    default:
      return null;
  }
}

function Countdown({ deadline }: { deadline: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [deadline]);
  const seconds = Math.max(0, Math.ceil((new Date(deadline).getTime() - now) / 1000));
  return <span class="timer" aria-label={`${seconds} seconds left for this turn`}>{seconds}s</span>;
}

export function RoomPage({ roomId }: { roomId: number }) {
  const [room, setRoom] = useState<Schemas["RoomOut"] | null>(null);
  const [log, setLog] = useState<string[]>([]);
  const [state, setState] = useState<StreamState>("connecting");
  const [proof, setProof] = useState<Verdict | null>(null);
  const names = useRef(new Map<number, string>());
  const load = useAction(async () => {
    const current = await unwrap(api.GET("/games/roulette/{roulette_id}", { params: { path: { roulette_id: roomId } } }));
    for (const p of current.players) names.current.set(p.user_id, p.username);
    setRoom(current);
    // Once the seed is revealed, check the bullet's chamber here rather than believe it.
    if (current.seed && current.bullet_chamber !== null && current.bullet_chamber !== undefined) {
      setProof(await verifyRoom({ seed: current.seed, seed_hash: current.seed_hash, bullet_chamber: current.bullet_chamber }));
    }
  });
  useEffect(() => {
    void load.run();
    setLog([]);
    setProof(null);
    // Every room event reloads the room, so what the page shows is always the server's state.
    return openRoomStream(
      roomId,
      (event) => {
        if (event.event === "connected" || event.event === "heartbeat") return;
        const line = describe(event, names.current);
        if (line) setLog((lines) => [...lines, line]);
        void load.run();
      },
      setState,
    );
  }, [roomId]);
  const me = session.value?.userId;
  const pull = useAction(async () => {
    await unwrap(api.POST("/games/pull-trigger", { headers: idempotent(), body: { roulette_id: roomId } }));
  });
  const leave = useAction(async () => {
    await unwrap(api.POST("/games/leave", { headers: idempotent(), body: { roulette_id: roomId } }));
  });
  if (!room) return <><h1>Room #{roomId}</h1><ErrorLine error={load.error} /><p>Loading…</p></>;
  const seated = room.players.some((p) => p.user_id === me && p.status !== "left");
  const myTurn = room.status === "playing" && room.next_player === me;
  return (
    <>
      <h1>Room #{roomId}</h1>
      {state !== "live" && <p class="banner" role="status">Live updates {state === "offline" ? "are offline; reconnecting…" : "are connecting…"}</p>}
      <Card title="Table">
        <p data-testid="room-status">
          Status: <strong>{room.status}</strong> · stake {money(room.stake)} · pot <strong>{money(room.pot)}</strong> · rake {rake(room)} · chambers pulled {room.chambers_pulled}/6
          {room.status === "playing" && room.turn_deadline && <> · turn ends in <Countdown deadline={room.turn_deadline} /></>}
        </p>
        <ol class="seats" aria-label="Seats">
          {room.players.map((p) => (
            <li key={p.user_id} class={[p.user_id === room.next_player ? "turn" : "", p.user_id === room.eliminated_player ? "out" : ""].join(" ")}>
              Seat {p.seat + 1}: {p.username}
              {p.user_id === me && " (you)"}
              {p.user_id === room.next_player && room.status === "playing" && " · to pull"}
              {p.user_id === room.eliminated_player && " · eliminated"}
              {p.status === "left" && " · left"}
            </li>
          ))}
          {Array.from({ length: room.max_players - room.players.length }, (_, i) => <li key={`free-${i}`} class="free">Free seat</li>)}
        </ol>
        {myTurn && <button type="button" class="danger" onClick={() => void pull.run()} disabled={pull.busy}>Pull the trigger</button>}
        {seated && room.status === "waiting" && <button type="button" onClick={() => void leave.run()} disabled={leave.busy}>Leave the room</button>}
        <ErrorLine error={pull.error ?? leave.error} />
        {room.status === "finished" && room.seed && (
          <p class="proof">
            Room seed <code>{room.seed}</code> put the bullet in chamber {room.bullet_chamber}.{" "}
            {proof && (
              <strong data-testid="room-proof" class={proof.verified ? "verified" : "mismatch"}>
                {proof.verified ? "Verified in this browser." : `Mismatch: ${proof.reason}`}
              </strong>
            )}
          </p>
        )}
        <p class="proof">Committed room seed hash: <code>{room.seed_hash}</code>. Opened {when(room.created_at)}.</p>
      </Card>
      {session.value && room.bets_open && !seated && <SideBet room={room} />}
      {room.side_bets.length > 0 && (
        <Card title="Side bets">
          <ul class="rows">
            {room.side_bets.map((b) => (
              <li key={b.bet_id}>
                {money(b.bet_amount)} on {room.players.find((p) => p.user_id === b.player_id)?.username ?? "a player"}'s {b.bet_type} at {b.odds_exact ?? b.odds}: {b.status}
                {b.win_amount > 0 && `, won ${money(b.win_amount)}`}
              </li>
            ))}
          </ul>
        </Card>
      )}
      <Card title="Play by play">
        <ol class="log" aria-live="polite" data-testid="room-log">
          {log.map((line, i) => <li key={i}>{line}</li>)}
        </ol>
      </Card>
    </>
  );
}

function SideBet({ room }: { room: Schemas["RoomOut"] }) {
  const [player, setPlayer] = useState(String(room.players[0]?.user_id ?? ""));
  const [type, setType] = useState<"survival" | "elimination">("survival");
  const [amount, setAmount] = useState("10");
  const action = useAction(async () => {
    await unwrap(api.POST("/games/place-bet", { headers: idempotent(), body: { roulette_id: room.roulette_id, player_id: Number(player), bet_type: type, bet_amount: Number(amount) } }));
  });
  return (
    <Card title="Place a side bet">
      <form onSubmit={submitting(action.run)}>
        <div class="field">
          <label for="bet-player">On player</label>
          <select id="bet-player" value={player} onChange={(e) => setPlayer(e.currentTarget.value)}>
            {room.players.map((p) => <option key={p.user_id} value={String(p.user_id)}>{p.username}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="bet-type">Outcome</label>
          <select id="bet-type" value={type} onChange={(e) => setType(e.currentTarget.value as "survival" | "elimination")}>
            <option value="survival">survives</option>
            <option value="elimination">is eliminated</option>
          </select>
        </div>
        <Field label="Amount (KES)" name="bet-amount" type="number" min={1} step="0.01" required value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        <ErrorLine error={action.error} />
        <button type="submit" disabled={action.busy}>Place bet</button>
      </form>
    </Card>
  );
}
