import { useEffect, useState } from "preact/hooks";
import { api, saveSession, session, unwrap, type Schemas } from "../api";
import { Card, ErrorLine, Field, submitting, useAction } from "../ui";

export function ProfilePage() {
  const [me, setMe] = useState<Schemas["MeOut"] | null>(null);
  const [profile, setProfile] = useState<Schemas["ProfileOut"] | null>(null);
  const load = useAction(async () => {
    const [who, details] = await Promise.all([unwrap(api.GET("/me")), unwrap(api.GET("/profile"))]);
    setMe(who);
    setProfile(details);
  });
  useEffect(() => void load.run(), []);
  return (
    <>
      <h1>Profile</h1>
      <ErrorLine error={load.error} />
      {profile && <Details profile={profile} onSaved={setProfile} />}
      {me && <EmailVerification me={me} onVerified={() => void load.run()} />}
      <PasswordChange />
      <LogOut />
    </>
  );
}

function Details({ profile, onSaved }: { profile: Schemas["ProfileOut"]; onSaved: (p: Schemas["ProfileOut"]) => void }) {
  const [fullName, setFullName] = useState(profile.full_name ?? "");
  const [dob, setDob] = useState(profile.dob ?? "");
  const [location, setLocation] = useState(profile.location ?? "");
  const [saved, setSaved] = useState(false);
  const action = useAction(async () => {
    setSaved(false);
    onSaved(await unwrap(api.PATCH("/profile", { body: { full_name: fullName || null, dob: dob || null, location: location || null } })));
    setSaved(true);
  });
  return (
    <Card title={`Your details (${profile.username})`}>
      <form onSubmit={submitting(action.run)}>
        <Field label="Full name" autoComplete="name" value={fullName} onInput={(e) => setFullName(e.currentTarget.value)} />
        <Field label="Date of birth" type="date" autoComplete="bday" value={dob} onInput={(e) => setDob(e.currentTarget.value)} />
        <Field label="Location" value={location} onInput={(e) => setLocation(e.currentTarget.value)} />
        <ErrorLine error={action.error} />
        {saved && <p role="status">Saved.</p>}
        <button type="submit" disabled={action.busy}>Save</button>
      </form>
    </Card>
  );
}

function EmailVerification({ me, onVerified }: { me: Schemas["MeOut"]; onVerified: () => void }) {
  const [token, setToken] = useState("");
  const [sent, setSent] = useState(false);
  const request = useAction(async () => {
    await unwrap(api.POST("/email/verify/request"));
    setSent(true);
  });
  const confirm = useAction(async () => {
    await unwrap(api.POST("/email/verify/confirm", { body: { token } }));
    onVerified();
  });
  if (!me.email) return <Card title="Email"><p>No email address on this account.</p></Card>;
  if (me.email_verified) return <Card title="Email"><p>{me.email} is verified.</p></Card>;
  return (
    <Card title="Verify your email">
      <p>{me.email} is not verified yet.</p>
      <button type="button" onClick={() => void request.run()} disabled={request.busy}>Send me a code</button>
      <ErrorLine error={request.error} />
      {sent && <p role="status">A verification mail is on its way.</p>}
      <form onSubmit={submitting(confirm.run)}>
        <Field label="Code from the mail" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        <ErrorLine error={confirm.error} />
        <button type="submit" disabled={confirm.busy}>Verify</button>
      </form>
    </Card>
  );
}

function PasswordChange() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const action = useAction(async () => {
    setDone(false);
    await unwrap(api.POST("/password/change", { body: { current_password: current, new_password: next } }));
    setDone(true);
  });
  return (
    <Card title="Change password">
      <form onSubmit={submitting(action.run)}>
        <Field label="Current password" type="password" autoComplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        <Field label="New password" type="password" autoComplete="new-password" required minLength={8} value={next} onInput={(e) => setNext(e.currentTarget.value)} />
        <ErrorLine error={action.error} />
        {done && <p role="status">Password changed.</p>}
        <button type="submit" disabled={action.busy}>Change password</button>
      </form>
    </Card>
  );
}

function LogOut() {
  const action = useAction(async () => {
    await unwrap(api.POST("/logout", { body: { refresh_token: session.value?.refreshToken ?? null } })).catch(() => undefined);
    saveSession(null);
    location.hash = "#/";
  });
  return (
    <Card title="Log out">
      <button type="button" onClick={() => void action.run()} disabled={action.busy}>Log out</button>
    </Card>
  );
}
