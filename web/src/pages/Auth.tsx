import { useState } from "preact/hooks";
import { api, saveSession, unwrap } from "../api";
import { Card, ErrorLine, Field, submitting, useAction } from "../ui";

async function logIn(username: string, password: string): Promise<void> {
  const login = await unwrap(api.POST("/login", { body: { username, password } }));
  saveSession({ userId: login.id, username: login.username, accessToken: login.access_token, refreshToken: login.refresh_token });
}

export function AuthPage() {
  const [mode, setMode] = useState<"login" | "register" | "forgot">("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const action = useAction(async () => {
    if (mode === "register") {
      await unwrap(api.POST("/register", { body: { username, password, email: email || null } }));
    }
    if (mode === "forgot") {
      await unwrap(api.POST("/password/forgot", { body: { email } }));
      setSent(true);
      return;
    }
    await logIn(username, password);
    location.hash = "#/spin";
  });
  const titles = { login: "Log in", register: "Create an account", forgot: "Reset your password" };
  return (
    <Card title={titles[mode]}>
      <form onSubmit={submitting(action.run)}>
        {mode !== "forgot" && (
          <>
            <Field label="Username" name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
            <Field label="Password" name="password" type="password" required minLength={8}
              autoComplete={mode === "register" ? "new-password" : "current-password"}
              value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </>
        )}
        {mode !== "login" && (
          <Field label={mode === "register" ? "Email (optional)" : "Email"} name="email" type="email" autoComplete="email"
            required={mode === "forgot"} value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        )}
        <ErrorLine error={action.error} />
        {sent && <p role="status">If that address has an account, a reset link is on its way.</p>}
        <button type="submit" disabled={action.busy}>{titles[mode]}</button>
      </form>
      <p class="switch">
        {mode !== "login" && <button type="button" class="link" onClick={() => setMode("login")}>I have an account</button>}
        {mode !== "register" && <button type="button" class="link" onClick={() => setMode("register")}>Create an account</button>}
        {mode !== "forgot" && <button type="button" class="link" onClick={() => setMode("forgot")}>Forgot password?</button>}
      </p>
    </Card>
  );
}

/** The page a reset mail links to: #/reset?token=... */
export function ResetPage({ token }: { token: string }) {
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const action = useAction(async () => {
    await unwrap(api.POST("/password/reset", { body: { token, new_password: password } }));
    setDone(true);
  });
  return (
    <Card title="Choose a new password">
      {done ? (
        <p role="status">Your password is changed. <a href="#/">Log in</a></p>
      ) : (
        <form onSubmit={submitting(action.run)}>
          <Field label="New password" type="password" autoComplete="new-password" required minLength={8} value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <ErrorLine error={action.error} />
          <button type="submit" disabled={action.busy || !token}>Change password</button>
        </form>
      )}
    </Card>
  );
}
