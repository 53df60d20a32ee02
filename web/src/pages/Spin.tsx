import { useEffect, useState } from "preact/hooks";
import { api, idempotent, money, unwrap, type Schemas } from "../api";
import { type Segment, verifyRoom, verifySpin, type Verdict } from "../fairness";
import { wallet } from "../live";
import { Card, ErrorLine, Field, submitting, useAction } from "../ui";

const COLOURS = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#a21caf"];

function Wheel({ table, landed, turns }: { table: Segment[]; landed: number | null; turns: number }) {
  const total = table.reduce((sum, s) => sum + s.weight, 0);
  let start = 0;
  const slices = table.map((segment, index) => {
    const angle = (segment.weight / total) * 360;
    const slice = { segment, index, start, angle };
    start += angle;
    return slice;
  });
  // Turn so that the middle of the landed slice stops under the pointer at the top.
  const target = landed === null ? 0 : slices[landed]!.start + slices[landed]!.angle / 2;
  const rotation = turns * 360 - target;
  const point = (degrees: number, radius = 100) => {
    const radians = ((degrees - 90) * Math.PI) / 180;
    return `${110 + radius * Math.cos(radians)} ${110 + radius * Math.sin(radians)}`;
  };
  return (
    <figure class="wheel">
      <svg viewBox="0 0 220 230" role="img" aria-label={`Wheel of ${table.length} segments: ${table.map((s) => `${s.multiplier}x`).join(", ")}`}>
        <g style={{ transform: `rotate(${rotation}deg)`, transformOrigin: "110px 110px", transition: "transform 1.2s cubic-bezier(.2,.8,.2,1)" }}>
          {slices.map(({ segment, index, start: from, angle }) => (
            <g key={index}>
              <path d={`M110 110 L${point(from)} A100 100 0 ${angle > 180 ? 1 : 0} 1 ${point(from + angle)} Z`} fill={COLOURS[index % COLOURS.length]} stroke="#fff" />
              {angle >= 18 && <text x={point(from + angle / 2, 68).split(" ")[0]} y={point(from + angle / 2, 68).split(" ")[1]} fill="#fff" font-size="12" text-anchor="middle" dominant-baseline="middle">
                {segment.multiplier}x
              </text>}
            </g>
          ))}
        </g>
        <path d="M110 4 L102 22 L118 22 Z" fill="currentColor" />
      </svg>
      <figcaption>
        <ul class="legend">
          {table.map((segment, index) => (
            <li key={index}>
              <span class="swatch" style={{ background: COLOURS[index % COLOURS.length] }} aria-hidden="true" />
              {segment.multiplier}x: {segment.weight} in {total}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}

export function SpinPage() {
  const [game, setGame] = useState<Schemas["GameOut"] | null>(null);
  const [stake, setStake] = useState("10");
  const [last, setLast] = useState<Schemas["SpinOut"] | null>(null);
  const [landed, setLanded] = useState<number | null>(null);
  const [turns, setTurns] = useState(0);
  const load = useAction(async () => setGame(await unwrap(api.GET("/games/{slug}", { params: { path: { slug: "spin-and-win" } } }))));
  useEffect(() => void load.run(), []);
  const table = (game?.reward_table ?? []) as unknown as Segment[];
  const spin = useAction(async () => {
    const result = await unwrap(api.POST("/games/spin-and-win/play", { headers: idempotent(), body: { bet_amount: Number(stake) } }));
    const matching = table.map((s, i) => [s, i] as const).filter(([s]) => `${s.multiplier}x` === result.result);
    setLanded(matching.length ? matching[Math.floor(Math.random() * matching.length)]![1] : null);
    setTurns((t) => t + 4);
    setLast(result);
    if (wallet.value) wallet.value = { ...wallet.value, balance: result.new_balance };
  });
  return (
    <>
      <h1>Spin and Win</h1>
      <ErrorLine error={load.error} />
      {game && (
        <Card title="Spin">
          <p>
            Stakes from {money(game.min_bet)} to {money(game.max_bet)}. Return to player {(game.rtp * 100).toFixed(2)}%.
            {wallet.value && <> Balance: <strong data-testid="balance">{money(wallet.value.balance)}</strong></>}
          </p>
          <Wheel table={table} landed={landed} turns={turns} />
          <form onSubmit={submitting(spin.run)} class="inline">
            <Field label="Stake (KES)" name="stake" type="number" inputMode="decimal" min={game.min_bet} max={game.max_bet} step="0.01" required value={stake} onInput={(e) => setStake(e.currentTarget.value)} />
            <button type="submit" disabled={spin.busy}>Spin</button>
          </form>
          <ErrorLine error={spin.error} />
          {last && (
            <div role="status" class="result" data-testid="spin-result">
              <p>
                <strong>{last.result}</strong>: {last.win_amount > 0 ? `you win ${money(last.win_amount)}` : "no win this time"}. New balance {money(last.new_balance)}.
              </p>
              <p class="proof">
                Bet #{last.bet_id}: server seed hash <code>{last.fairness.server_seed_hash}</code>, client seed <code>{last.fairness.client_seed}</code>, nonce {last.fairness.nonce}.
              </p>
            </div>
          )}
        </Card>
      )}
      {game && <FairnessPanel />}
    </>
  );
}

interface Checked {
  label: string;
  verdict: Verdict;
}

// Versions of the reward table never change once written: each is fetched once.
const tables = new Map<number, Promise<Segment[]>>();

function tableOf(version: number): Promise<Segment[]> {
  let found = tables.get(version);
  if (!found) {
    found = unwrap(api.GET("/games/{slug}/reward-tables/{version}", { params: { path: { slug: "spin-and-win", version } } })).then(
      (t) => t.table as unknown as Segment[],
    );
    found.catch(() => tables.delete(version));
    tables.set(version, found);
  }
  return found;
}

function FairnessPanel() {
  const [fairness, setFairness] = useState<Schemas["FairnessOut"] | null>(null);
  const [clientSeed, setClientSeed] = useState("");
  const [checked, setChecked] = useState<Checked[] | null>(null);
  const load = useAction(async () => setFairness(await unwrap(api.GET("/fairness"))));
  useEffect(() => void load.run(), []);
  const choose = useAction(async () => {
    await unwrap(api.PUT("/fairness/client-seed", { body: { client_seed: clientSeed } }));
    await load.run();
  });
  const rotate = useAction(async () => {
    await unwrap(api.POST("/fairness/rotate"));
    await load.run();
  });
  // Recompute every revealed bet from its seed here, in the browser, with WebCrypto.
  const verify = useAction(async () => {
    const bets = await unwrap(api.GET("/history", { params: { query: { limit: 100 } } }));
    const results: Checked[] = [];
    const rooms = new Set<number>();
    for (const bet of bets) {
      if (bet.kind === "spin" && bet.server_seed && bet.client_seed && bet.nonce !== null && bet.nonce !== undefined && bet.result && bet.reward_table_version) {
        const inputs = { server_seed: bet.server_seed, server_seed_hash: bet.server_seed_hash, client_seed: bet.client_seed, nonce: bet.nonce, result: bet.result };
        // With the table the bet was played with, not the one in force now.
        const table = await tableOf(bet.reward_table_version);
        results.push({ label: `Spin #${bet.id} (nonce ${bet.nonce}, table v${bet.reward_table_version}): ${bet.result}`, verdict: await verifySpin(inputs, table) });
      }
      if (bet.room_id !== null && bet.room_id !== undefined && !rooms.has(bet.room_id)) rooms.add(bet.room_id);
    }
    for (const roomId of rooms) {
      const room = await unwrap(api.GET("/games/roulette/{roulette_id}", { params: { path: { roulette_id: roomId } } }));
      if (room.seed && room.bullet_chamber !== null && room.bullet_chamber !== undefined) {
        results.push({ label: `Roulette room #${roomId}`, verdict: await verifyRoom({ seed: room.seed, seed_hash: room.seed_hash, bullet_chamber: room.bullet_chamber }) });
      }
    }
    setChecked(results);
  });
  return (
    <Card title="Provable fairness">
      <ErrorLine error={load.error} />
      {fairness && (
        <dl class="facts">
          <dt>Server seed hash (committed)</dt>
          <dd><code data-testid="seed-hash">{fairness.server_seed_hash}</code></dd>
          <dt>Your client seed</dt>
          <dd><code>{fairness.client_seed}</code></dd>
          <dt>Next nonce</dt>
          <dd>{fairness.nonce}</dd>
          {fairness.previous && (
            <>
              <dt>Last revealed seed</dt>
              <dd><code>{fairness.previous.server_seed}</code></dd>
            </>
          )}
        </dl>
      )}
      <form onSubmit={submitting(choose.run)} class="inline">
        <Field label="Choose your client seed" name="client-seed" required maxLength={64} pattern="[!-9;-~]+" value={clientSeed} onInput={(e) => setClientSeed(e.currentTarget.value)} />
        <button type="submit" disabled={choose.busy}>Set</button>
      </form>
      <ErrorLine error={choose.error} />
      <p>
        <button type="button" onClick={() => void rotate.run()} disabled={rotate.busy}>Reveal seed and rotate</button>{" "}
        <button type="button" onClick={() => void verify.run()} disabled={verify.busy}>Verify my bets in this browser</button>
      </p>
      <ErrorLine error={rotate.error ?? verify.error} />
      {checked && (
        <ul class="rows" data-testid="verifications">
          {checked.length === 0 && <li>No revealed bets yet: rotate the seed to reveal it.</li>}
          {checked.map((c) => (
            <li key={c.label} class={c.verdict.verified ? "verified" : "mismatch"}>
              {c.label}: <strong>{c.verdict.verified ? "verified" : `mismatch: ${c.verdict.reason}`}</strong>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
