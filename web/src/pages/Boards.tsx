import { useEffect, useState } from "preact/hooks";
import { api, money, nextCursor, session, unwrap, type Schemas } from "../api";
import { onPlayerEvent } from "../live";
import { Card, ErrorLine, useAction, when } from "../ui";

type Period = Schemas["Period"];
const PERIODS: [Period, string][] = [["day", "Today"], ["week", "This week"], ["month", "This month"], ["all", "All time"]];
const GAMES: [string, string][] = [["", "All games"], ["spin-and-win", "Spin and Win"], ["russian-roulette", "Russian Roulette"]];

export function BoardsPage() {
  const [period, setPeriod] = useState<Period>("all");
  const [game, setGame] = useState("");
  const [rows, setRows] = useState<Schemas["LeaderboardEntryOut"][]>([]);
  const [mine, setMine] = useState<Schemas["LeaderboardMeOut"] | null>(null);
  const load = useAction(async () => {
    const query = { period, game: game || undefined };
    setRows(await unwrap(api.GET("/leaderboard", { params: { query: { ...query, limit: 20 } } })));
    if (session.value) setMine(await unwrap(api.GET("/leaderboard/me", { params: { query } })));
  });
  useEffect(() => void load.run(), [period, game]);
  // The board moves live: a leaderboard_update on the player's stream reloads it.
  useEffect(() => onPlayerEvent(({ event }) => event === "leaderboard_update" && void load.run()), [period, game]);
  return (
    <>
      <h1>Leaderboards</h1>
      <Card title="Standings">
        <div class="filters">
          <div class="field">
            <label for="board-period">Period</label>
            <select id="board-period" value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
              {PERIODS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="board-game">Game</label>
            <select id="board-game" value={game} onChange={(e) => setGame(e.currentTarget.value)}>
              {GAMES.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </div>
        </div>
        <ErrorLine error={load.error} />
        {mine && <p data-testid="my-rank">Your rank: <strong>{mine.rank ?? "not ranked yet"}</strong> ({money(mine.earnings)} earned)</p>}
        <table>
          <caption class="visually-hidden">Players ranked by earnings</caption>
          <thead><tr><th scope="col">Rank</th><th scope="col">Player</th><th scope="col">Wins</th><th scope="col">Earnings</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.user_id} class={r.user_id === session.value?.userId ? "me" : undefined}>
                <td>{r.rank}</td><td>{r.username}</td><td>{r.win_count}</td><td>{money(r.earnings)}</td>
              </tr>
            ))}
            {rows.length === 0 && <tr><td colSpan={4}>Nobody has played in this period yet.</td></tr>}
          </tbody>
        </table>
      </Card>
      {session.value && <MyStats />}
      {session.value && <History />}
    </>
  );
}

function MyStats() {
  const [stats, setStats] = useState<Schemas["OwnStatsOut"] | null>(null);
  const load = useAction(async () => setStats(await unwrap(api.GET("/stats"))));
  useEffect(() => void load.run(), []);
  if (!stats) return <ErrorLine error={load.error} />;
  const o = stats.overall;
  return (
    <Card title="Your stats">
      <dl class="facts">
        <dt>Bets</dt><dd>{o.total_bets}</dd>
        <dt>Wagered</dt><dd>{money(o.total_wagered)}</dd>
        <dt>Won</dt><dd>{money(o.total_won)}</dd>
        <dt>Net</dt><dd>{money(o.net_profit)}</dd>
      </dl>
    </Card>
  );
}

function History() {
  const [bets, setBets] = useState<Schemas["HistoryItem"][]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const load = useAction(async () => {
    const answer = await api.GET("/history", { params: { query: { limit: 20, cursor: cursor ?? undefined } } });
    const page = await unwrap(Promise.resolve(answer));
    setBets((list) => [...list, ...page]);
    setCursor(nextCursor(answer.response));
  });
  useEffect(() => void load.run(), []);
  return (
    <Card title="Your bets">
      <ErrorLine error={load.error} />
      <ul class="rows">
        {bets.map((b) => (
          <li key={b.id}>
            <span>{b.game} · {b.kind.replace("_", " ")} · {b.result ?? b.status}</span>
            <span class={b.net_result < 0 ? "minus" : "plus"}>{money(b.net_result)}</span>
            <small>{when(b.created_at)} · staked {money(b.bet_amount)}</small>
          </li>
        ))}
        {bets.length === 0 && !load.busy && <li>No bets yet.</li>}
      </ul>
      {cursor && <button type="button" onClick={() => void load.run()} disabled={load.busy}>Show more</button>}
    </Card>
  );
}
