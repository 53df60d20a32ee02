import { useEffect, useState } from "preact/hooks";
import { api, money, unwrap, type Schemas } from "../api";
import { Card, ErrorLine, Field, submitting, useAction, when } from "../ui";

type Controls = Schemas["ControlsOut"];
type Kind = Schemas["LimitIn"]["kind"];
type Period = Schemas["LimitIn"]["period"];
type Exclusion = NonNullable<Schemas["ControlsIn"]["self_exclusion"]>;

const KINDS: [Kind, string][] = [["deposit", "Deposits"], ["wager", "Stakes"], ["loss", "Losses"]];
const PERIODS: [Period, string][] = [["day", "24 hours"], ["week", "7 days"], ["month", "30 days"]];
const EXCLUSIONS: [Exclusion, string][] = [["6_months", "6 months"], ["1_year", "1 year"], ["5_years", "5 years"], ["permanent", "Permanently"]];

export function ProtectionPage() {
  const [controls, setControls] = useState<Controls | null>(null);
  const load = useAction(async () => setControls(await unwrap(api.GET("/responsible-gaming"))));
  useEffect(() => void load.run(), []);
  const change = async (body: Schemas["ControlsIn"]) => setControls(await unwrap(api.PUT("/responsible-gaming", { body })));
  return (
    <>
      <h1>Play safe</h1>
      <ErrorLine error={load.error} />
      {controls && (
        <>
          <Status controls={controls} />
          <Limits controls={controls} change={change} />
          <RealityCheck controls={controls} change={change} />
          <Breaks change={change} />
        </>
      )}
    </>
  );
}

function Status({ controls }: { controls: Controls }) {
  const excluded = controls.excluded_permanently ? "permanently" : controls.excluded_until ? `until ${when(controls.excluded_until)}` : null;
  return (
    <Card title="Your account">
      <dl class="facts">
        <dt>Date of birth</dt>
        <dd>{controls.dob ?? <a href="#/profile">Not set: needed before you deposit or play</a>}</dd>
        <dt>Identity check</dt>
        <dd>{controls.kyc_status}</dd>
        {controls.time_out_until && (<><dt>Time-out</dt><dd data-testid="time-out">until {when(controls.time_out_until)}</dd></>)}
        {excluded && (<><dt>Self-exclusion</dt><dd data-testid="exclusion">{excluded}</dd></>)}
      </dl>
    </Card>
  );
}

function Limits({ controls, change }: { controls: Controls; change: (b: Schemas["ControlsIn"]) => Promise<void> }) {
  const [kind, setKind] = useState<Kind>("deposit");
  const [period, setPeriod] = useState<Period>("day");
  const [amount, setAmount] = useState("");
  const action = useAction(async (remove: boolean) => {
    await change({ limits: [{ kind, period, amount: remove ? null : Number(amount) }] });
    setAmount("");
  });
  return (
    <Card title="Limits">
      <p class="note">A lower limit applies at once; a higher one, or removing a limit, only after the cooling-off period, and shows as pending until then.</p>
      <ul class="rows" data-testid="limits">
        {controls.limits.length === 0 && <li>No limits set.</li>}
        {controls.limits.map((l) => (
          <li key={`${l.kind}-${l.period}`}>
            <span>{KINDS.find(([k]) => k === l.kind)?.[1]} per {PERIODS.find(([p]) => p === l.period)?.[1]}: {l.amount === null ? "no limit" : money(l.amount)}</span>
            {l.remaining !== null && <span>{money(l.remaining)} left</span>}
            {l.pending && <small>Pending: {l.pending_amount === null ? "no limit" : money(l.pending_amount)} from {when(l.pending_from)}</small>}
          </li>
        ))}
      </ul>
      <form onSubmit={submitting(() => action.run(false))}>
        <div class="filters">
          <div class="field">
            <label for="limit-kind">Limit on</label>
            <select id="limit-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
              {KINDS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="limit-period">Per</label>
            <select id="limit-period" value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
              {PERIODS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
            </select>
          </div>
        </div>
        <Field label="Amount (KES)" name="limit-amount" type="number" min={1} step="0.01" required value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        <ErrorLine error={action.error} />
        <p class="switch">
          <button type="submit" disabled={action.busy}>Set limit</button>
          <button type="button" class="link" onClick={() => void action.run(true)} disabled={action.busy}>Remove this limit</button>
        </p>
      </form>
    </Card>
  );
}

function RealityCheck({ controls, change }: { controls: Controls; change: (b: Schemas["ControlsIn"]) => Promise<void> }) {
  const [minutes, setMinutes] = useState(String(controls.reality_check_minutes ?? 0));
  const action = useAction(async () => change({ reality_check_minutes: Number(minutes) }));
  return (
    <Card title="Reality check">
      <form onSubmit={submitting(action.run)} class="inline">
        <Field label="Remind me every N minutes of play (0: off)" name="reality-check" type="number" min={0} max={1440} required value={minutes} onInput={(e) => setMinutes(e.currentTarget.value)} />
        <button type="submit" disabled={action.busy}>Save</button>
      </form>
      <ErrorLine error={action.error} />
    </Card>
  );
}

function Breaks({ change }: { change: (b: Schemas["ControlsIn"]) => Promise<void> }) {
  const [hours, setHours] = useState("24");
  const [exclusion, setExclusion] = useState<Exclusion>("6_months");
  const [confirming, setConfirming] = useState<"time-out" | "exclusion" | null>(null);
  const action = useAction(async () => {
    await change(confirming === "time-out" ? { time_out_hours: Number(hours) } : { self_exclusion: exclusion });
    setConfirming(null);
  });
  return (
    <Card title="Take a break">
      <p class="note">During a time-out or a self-exclusion you cannot deposit, bet or join a game; withdrawals stay open. Nothing can shorten it once it starts.</p>
      <div class="inline">
        <Field label="Time-out (hours, 24 to 1008)" name="time-out-hours" type="number" min={24} max={1008} value={hours} onInput={(e) => setHours(e.currentTarget.value)} />
        <button type="button" onClick={() => setConfirming("time-out")}>Take a time-out</button>
      </div>
      <div class="inline">
        <div class="field">
          <label for="exclusion">Self-exclusion</label>
          <select id="exclusion" value={exclusion} onChange={(e) => setExclusion(e.currentTarget.value as Exclusion)}>
            {EXCLUSIONS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </div>
        <button type="button" class="danger" onClick={() => setConfirming("exclusion")}>Exclude myself</button>
      </div>
      {confirming && (
        <div role="alertdialog" aria-labelledby="confirm-break" class="confirm">
          <p id="confirm-break">
            {confirming === "time-out" ? `A time-out of ${hours} hours` : `A self-exclusion of ${EXCLUSIONS.find(([v]) => v === exclusion)?.[1]}`} cannot be
            shortened once it starts. Continue?
          </p>
          <p class="switch">
            <button type="button" class="danger" onClick={() => void action.run()} disabled={action.busy}>Yes, start it</button>
            <button type="button" onClick={() => setConfirming(null)}>Cancel</button>
          </p>
        </div>
      )}
      <ErrorLine error={action.error} />
    </Card>
  );
}
